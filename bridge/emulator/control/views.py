"""The JSON shapes of the control API, shared by the server and ``EmulatorControl``.

State objects render themselves into these frozen pydantic models (``.view()``); the
control API serialises them, and the typed client parses the same models back, so the
two sides cannot drift apart. Field names are snake_case: this is the emulator's own API,
not DingTalk's wire format.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bridge.emulator.openapi.endpoints import Api

AppKind = Literal["assistant", "robot"]
ConversationType = Literal["single", "group", "magic_wand"]
MessageStateName = Literal["preparing", "inputting", "finished", "failed"]
MsgType = Literal["text", "picture", "richText", "audio", "video", "file"]
"""A robot message's ``msgtype`` (§11)."""
PieceKind = Literal["text", "picture", "audio", "video", "file"]


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


class PieceView(View):
    """A piece of a user's message as the DingTalk client shows it: text or a medium.

    ``media_id`` names the medium in the emulator's media library; ``name`` is a file's
    name; ``duration_ms`` a voice message's or video's length; an audio piece's ``text``
    is what DingTalk recognised in it.
    """

    kind: PieceKind
    text: str = ""
    media_id: str | None = None
    name: str = ""
    duration_ms: int | None = None


class RichItem(View):
    """One item of a rich-text message to send: some text, or a picture (a media id)."""

    text: str | None = None
    media_id: str | None = None


class MediaView(View):
    """A picture, voice message, video or file the emulator holds (and serves)."""

    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    sample: bool = False
    downloads: int = 0


class MessageView(View):
    """A message as a chat user would see it, plus how it got there.

    A user's message of another type than text (``msgtype``) lists its ``pieces``;
    ``text`` is then what a conversation list shows for it ("[图片]"). A card names its
    ``out_track_id``; ``stop_button`` says whether its stop button shows (§13.3).
    """

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
    msgtype: MsgType = "text"
    pieces: list[PieceView] = Field(default_factory=list)
    out_track_id: str | None = None
    stop_button: bool = False


class CallView(View):
    """One request the emulator answered (successful or not)."""

    seq: int
    operation: Api
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

    operation: Api
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
    qps_per_operation: dict[Api, int] = Field(default_factory=dict)
    access_token_lifetime: int = 7200
    webhook_lifetime: float = 90 * 60
    card_content_chars: int = 3000
    msg_param_bytes: int = 15000


class TemplateView(View):
    """A card template: the variable that holds the visible text and the streamable ones."""

    template_id: str
    text_variable: str
    streaming_variables: list[str]


class StreamSettingsView(View):
    """How the emulated Stream gateway behaves (seconds; ``None`` switches a timer off).

    ``ack_timeout``: an unacknowledged CALLBACK frame is sent again (new ``messageId``,
    same payload) after this long, at most ``max_redeliveries`` times. ``ping_interval``:
    SYSTEM ``ping`` frames. ``disconnect_every``: a SYSTEM ``disconnect`` at random
    intervals around this value, then the socket closes ``disconnect_delay`` later
    (DingTalk waits about 10 s). ``ticket_lifetime``: how long a gateway ticket stays
    valid (90 s on the platform).
    """

    ack_timeout: float = Field(default=5.0, gt=0)
    max_redeliveries: int = Field(default=3, ge=0)
    ping_interval: float | None = Field(default=30.0, gt=0)
    disconnect_every: float | None = Field(default=None, gt=0)
    disconnect_delay: float = Field(default=1.0, ge=0)
    ticket_lifetime: float = Field(default=90.0, gt=0)


class ConnectionView(View):
    """One Stream WebSocket connection of an app (live while ``closed_at`` is None)."""

    id: str
    client_id: str
    topics: list[str]
    ua: str
    local_ip: str
    opened_at: float
    closed_at: float | None = None
    close_code: int | None = None
    draining: bool = False
    frames_sent: int = 0
    acks_received: int = 0


FrameKind = Literal["SYSTEM", "EVENT", "CALLBACK", "RAW"]


class FrameView(View):
    """A frame the gateway sent; ``RAW`` is injected text (``message_id`` if it had one)."""

    seq: int
    connection_id: str
    client_id: str
    type: FrameKind
    topic: str
    message_id: str | None
    delivery_id: str | None = None
    text: str
    at: float


class AckView(View):
    """A text the client sent back, read as an ACK.

    ``matched`` says whether ``headers.messageId`` names a frame sent on that connection;
    ``echo_ok`` (pings only) whether the ACK's ``data`` echoes the ping's; ``error``
    says why the text is not a well-formed ACK (then the other fields may be empty).
    """

    seq: int
    connection_id: str
    client_id: str
    message_id: str | None
    matched: bool
    frame_type: FrameKind | None = None
    topic: str | None = None
    delivery_id: str | None = None
    code: int | None = None
    message: str | None = None
    data: Any = None
    echo_ok: bool | None = None
    error: str | None = None
    text: str
    at: float


DeliveryState = Literal["pending", "acked", "gave_up"]


class DeliveryView(View):
    """One inbound message delivered over Stream, with every frame that carried it."""

    id: str
    client_id: str
    topic: str
    msg_id: str
    frames: list[str]
    attempts: int
    state: DeliveryState
    ack_code: int | None = None


CallbackDoor = Literal["robot", "action"]
CallbackVariant = Literal[
    "ok", "bad_signature", "stale", "unsigned", "malformed", "oversize", "off_host"
]


class CallbacksView(View):
    """The HTTP callback URLs an app registered (the bridge's doors)."""

    client_id: str
    robot_url: str | None = None
    action_url: str | None = None
    action_token_set: bool = False


class CallbackView(View):
    """One HTTP callback the poster made and what the receiver answered.

    ``status`` is None when the receiver could not be reached (``error`` says why).
    """

    seq: int
    client_id: str
    door: CallbackDoor
    variant: CallbackVariant | Literal["raw"]
    url: str
    headers: dict[str, str]
    body_bytes: int
    status: int | None
    response: Any = None
    error: str | None = None
    at: float


DeliverHow = Literal["stream", "http", "none"]


class DispatchView(View):
    """How an inbound message reached the app: Stream frames, an HTTP callback, or not."""

    how: DeliverHow
    door: CallbackDoor
    delivery: DeliveryView | None = None
    frame: FrameView | None = None
    callback: CallbackView | None = None
    press: PressView | None = None


class InboundView(View):
    """What the platform hands the bridge when a user speaks (see ``Emulator.inbound``).

    ``delivery`` says how the control API delivered it (Stream, HTTP callback or not at all).
    """

    message: MessageView
    chatbot_message: dict[str, Any]
    action: dict[str, str]
    delivery: DispatchView | None = None


class PressView(View):
    """A card's button pressed (control API) and the app's answer (§13.2): over Stream
    (``frame_id``; the ACK's code and parsed ``data``) or HTTP (``url``, ``headers``; the
    status and body), as the card's ``callbackType`` says; no answer in 2 s: ``error``."""

    seq: int
    out_track_id: str
    client_id: str
    user: str
    action: str
    route: Literal["stream", "http"]
    payload: dict[str, Any]
    frame_id: str | None = None
    delivery_id: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    status: int | None = None
    response: Any = None
    error: str | None = None
    at: float


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

    type: Literal[
        "message.changed",
        "call.logged",
        "stream.connected",
        "stream.closed",
        "stream.frame",
        "stream.ack",
        "callback.posted",
        "card.pressed",
    ]
    message: MessageView | None = None
    call: CallView | None = None
    connection: ConnectionView | None = None
    frame: FrameView | None = None
    ack: AckView | None = None
    callback: CallbackView | None = None
    press: PressView | None = None
