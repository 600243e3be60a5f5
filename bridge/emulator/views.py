"""The JSON shapes of the control API, shared by the server and ``EmulatorControl``.

State objects render themselves into these frozen pydantic models (``.view()``); the
control API serialises them, and the typed client parses the same models back, so the
two sides cannot drift apart. Field names are snake_case: this is the emulator's own API,
not DingTalk's wire format.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bridge.dingtalk.operations import Operation

AppKind = Literal["assistant", "robot"]
ConversationType = Literal["single", "group", "magic_wand"]
MessageStateName = Literal["preparing", "inputting", "finished", "failed"]


class View(BaseModel):
    """Base of every control-API value: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AppView(View):
    """A registered DingTalk app (an AI assistant or a chat robot)."""

    client_id: str
    kind: AppKind
    robot_code: str
    name: str
    monthly_quota: int | None = None
    calls_this_month: int = 0


class UserView(View):
    """A member of the organisation."""

    user_id: str
    union_id: str
    nick: str


class ConversationView(View):
    """A chat: single, group or magic wand (whose open conversation id is empty)."""

    id: str
    type: ConversationType
    open_conversation_id: str
    title: str
    members: list[str]


class ChangeView(View):
    """One visible change of a message, with the real time it happened."""

    at: float
    state: MessageStateName
    text: str


class MessageView(View):
    """A message as a chat user would see it, plus how it got there."""

    id: str
    conversation_id: str
    sender_kind: Literal["user", "bot"]
    sender_id: str
    text: str
    state: MessageStateName
    via: str
    template_id: str | None = None
    card_data: dict[str, Any] = Field(default_factory=dict)
    created_at: float
    changes: list[ChangeView] = Field(default_factory=list)


class CallView(View):
    """One request the emulator answered (successful or not)."""

    seq: int
    operation: Operation
    app: str | None
    method: str
    path: str
    request: Any
    status: int
    response: Any
    error_code: str | None
    latency: float
    at: float


class FaultSpec(View):
    """A fault to inject on one operation.

    Without ``status`` the fault only adds ``latency`` and the call then proceeds
    normally. ``body`` replaces the error body entirely (e.g. the IP-ban JSON). The first
    ``after`` matching calls are let through; then each matching call fires with
    probability ``rate`` until the fault has fired ``count`` times.
    """

    operation: Operation
    status: int | None = None
    code: str = "system.error"
    message: str = "emulated fault"
    body: dict[str, Any] | None = None
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=0)
    after: int = Field(default=0, ge=0)
    latency: float = Field(default=0.0, ge=0.0)


class FaultView(View):
    """An installed fault and how often it has matched and fired."""

    id: int
    spec: FaultSpec
    seen: int
    fired: int


class LimitsView(View):
    """The tunable limits of the emulated platform."""

    qps: int = 20
    qps_per_operation: dict[Operation, int] = Field(default_factory=dict)
    access_token_lifetime: int = 7200
    webhook_lifetime: float = 90 * 60
    card_content_chars: int = 3000
    msg_param_bytes: int = 15000


class TemplateView(View):
    """A card template: the variable that holds the visible text and the streamable ones."""

    template_id: str
    text_variable: str
    streaming_variables: list[str]


class InboundView(View):
    """What the platform hands the bridge when a user speaks (see ``Emulator.inbound``)."""

    message: MessageView
    chatbot_message: dict[str, Any]
    action: dict[str, str]


class WorldView(View):
    """Everything registered, for a quick look."""

    apps: list[AppView]
    users: list[UserView]
    conversations: list[ConversationView]
    templates: list[TemplateView]
    limits: LimitsView
    clock_offset: float


class EventView(View):
    """One event of the bus as sent on ``GET /_emulator/events``."""

    type: Literal["message.changed", "call.logged"]
    message: MessageView | None = None
    call: CallView | None = None
