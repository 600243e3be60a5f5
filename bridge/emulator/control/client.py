"""``EmulatorControl``: the typed async client of the emulator's control API (``routes``).

Tests, the benchmark and the sandbox drive the emulator with it over real HTTP. It is
given an ``httpx2.AsyncClient`` (and closes nothing: whoever created the client closes
it) and the emulator's base URL; answers are parsed into the models of ``views``, and a
refusal raises ``EmulatorError`` with the control API's status and message. Its own
calls build the world, play the chat users (upload what they send: pictures, voice,
files; press a card's stop button), and read and shape the wire (call log, faults,
limits, clock, events); the Stream gateway and HTTP-callback calls come from
``stream_client.StreamControl`` and the simulated model's from ``model``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bridge.emulator.control.stream_client import StreamControl
from bridge.emulator.control.transport import as_body
from bridge.emulator.control.views import (
    AppKind,
    AppView,
    CallbackDoor,
    CallbackVariant,
    CallView,
    ConversationType,
    ConversationView,
    DeliverHow,
    EventView,
    FaultSpec,
    FaultView,
    InboundView,
    LimitsView,
    MediaView,
    MessageStateName,
    MessageView,
    MsgType,
    PressView,
    RichItem,
    TemplateView,
    UserView,
    WorldView,
)
from bridge.emulator.errors import EmulatorError
from bridge.emulator.model.control import ModelControl
from bridge.emulator.openapi.endpoints import Api

PRESS_WAIT = 2.0
"""How long a press may wait for the app's answer (the platform's 2 s)."""


class EmulatorControl(StreamControl):
    """Typed calls to ``/_emulator/…`` (the Stream side inherited from ``StreamControl``)."""

    # -- world ---------------------------------------------------------------------------

    async def world(self) -> WorldView:
        """Apps, users, conversations, templates and limits."""
        return WorldView.model_validate(await self._call("GET", "/world"))

    async def reset(self, *, defaults: bool = True) -> WorldView:
        """Forget everything and rebuild the (default) world."""
        return WorldView.model_validate(await self._call("POST", "/reset", {"defaults": defaults}))

    async def register_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        kind: AppKind = "assistant",
        robot_code: str | None = None,
        name: str | None = None,
    ) -> AppView:
        """Register an AI assistant or robot app."""
        body = {
            "client_id": client_id,
            "client_secret": client_secret,
            "kind": kind,
            "robot_code": robot_code,
            "name": name,
        }
        return AppView.model_validate(await self._call("POST", "/apps", body))

    async def set_quota(
        self, client_id: str, monthly: int | None, *, used: int | None = None
    ) -> AppView:
        """Set (or lift, with None) an app's monthly call quota."""
        body = {"monthly": monthly, "used": used}
        return AppView.model_validate(await self._call("PUT", f"/apps/{client_id}/quota", body))

    async def create_user(
        self, user_id: str, nick: str, *, union_id: str | None = None
    ) -> UserView:
        """Add a member of the organisation."""
        body = {"user_id": user_id, "nick": nick, "union_id": union_id}
        return UserView.model_validate(await self._call("POST", "/users", body))

    async def create_conversation(
        self,
        type: ConversationType,
        members: Sequence[str],
        *,
        title: str = "",
        conversation_id: str | None = None,
    ) -> ConversationView:
        """Add a single chat, group or magic-wand conversation."""
        body = {"type": type, "members": list(members), "title": title, "id": conversation_id}
        return ConversationView.model_validate(await self._call("POST", "/conversations", body))

    async def register_template(
        self,
        template_id: str,
        text_variable: str,
        streaming_variables: Sequence[str] | None = None,
    ) -> TemplateView:
        """Add a card template."""
        body = {
            "template_id": template_id,
            "text_variable": text_variable,
            "streaming_variables": list(streaming_variables) if streaming_variables else None,
        }
        return TemplateView.model_validate(await self._call("POST", "/templates", body))

    # -- chat ----------------------------------------------------------------------------

    async def inbound(
        self,
        user_id: str,
        conversation_id: str,
        text: str,
        *,
        client_id: str | None = None,
        deliver: DeliverHow | None = None,
        door: CallbackDoor | None = None,
        at_bot: bool = True,
        variant: CallbackVariant = "ok",
        msgtype: MsgType = "text",
        media_id: str | None = None,
        rich_text: Sequence[RichItem] = (),
        duration_ms: int | None = None,
    ) -> InboundView:
        """``user_id`` says ``text``; returns what the platform hands the bridge.

        It is delivered to the app as ``dispatch`` says: ``deliver`` (stream, http or
        none; default: stream if the app listens, else http if it registered a URL),
        ``door`` (robot or action; default by conversation type), ``at_bot`` (a group
        message @-mentions the bot: only then is it delivered, and "@<app name>" goes in
        front of a ``text`` that lacks it) and ``variant`` (a deliberately spoiled
        callback). ``InboundView.delivery`` tells how it went.

        Another ``msgtype`` than text sends a medium uploaded before (``media_id``; an
        audio message's ``text`` is its recognition) or, for ``richText``, ``rich_text``
        items; ``duration_ms`` is a voice message's or video's length.
        """
        body = {
            "user_id": user_id,
            "conversation_id": conversation_id,
            "text": text,
            "client_id": client_id,
            "deliver": deliver,
            "as": door,
            "at_bot": at_bot,
            "variant": variant,
            "msgtype": msgtype,
            "media_id": media_id,
            "rich_text": [i.model_dump(mode="json", exclude_none=True) for i in rich_text],
            "duration_ms": duration_ms,
        }
        return InboundView.model_validate(await self._call("POST", "/inbound", body))

    async def upload_media(self, data: bytes, content_type: str, *, name: str = "") -> MediaView:
        """Keep a picture, voice message, video or file for users to send; returns it."""
        response = await self._client.post(
            f"{self._base}/media",
            content=data,
            params={"name": name},
            headers={"Content-Type": content_type},
        )
        answer = response.json()
        if response.status_code >= 400:
            raise EmulatorError(str(answer.get("error")), status=response.status_code)
        return MediaView.model_validate(answer)

    async def media(self) -> list[MediaView]:
        """Every medium the emulator holds (the built-in samples first)."""
        data = await self._call("GET", "/media")
        return [MediaView.model_validate(m) for m in data["media"]]

    async def medium(self, media_id: str) -> MediaView:
        """One medium, with how often its download URLs served it."""
        return MediaView.model_validate(await self._call("GET", f"/media/{media_id}"))

    async def transcript(self, conversation_id: str) -> list[MessageView]:
        """A conversation's messages, oldest first."""
        data = await self._call("GET", f"/conversations/{conversation_id}/messages")
        return [MessageView.model_validate(m) for m in data["messages"]]

    async def messages(self, *states: MessageStateName) -> list[MessageView]:
        """Every message in one of ``states`` (all messages when none is given)."""
        data = await self._call("GET", "/messages", params={"state": list(states)})
        return [MessageView.model_validate(m) for m in data["messages"]]

    async def message(self, message_id: str) -> MessageView:
        """One message with all its changes."""
        return MessageView.model_validate(await self._call("GET", f"/messages/{message_id}"))

    async def press_button(
        self, out_track_id: str, user: str, action: str = "btn_stop"
    ) -> PressView:
        """``user`` presses a card's button (the stop button, ``btn_stop``): DingTalk
        calls the app back over Stream or HTTP as the card asks (§13). Returns the press
        with the app's answer (``status`` None: none within 2 s); EmulatorError(409) and
        nothing sent when the button does not show."""
        body = {"user": user, "action": action}
        data = await self._call("POST", f"/cards/{out_track_id}/press", body, wait=PRESS_WAIT)
        return PressView.model_validate(data)

    async def presses(self, since: int = 0) -> list[PressView]:
        """Card button presses made after ``since``, oldest first."""
        data = await self._call("GET", "/cards/presses", params={"since": since})
        return [PressView.model_validate(p) for p in data["presses"]]

    # -- wire ----------------------------------------------------------------------------

    async def calls(self, since: int = 0, operations: Sequence[str] = ()) -> list[CallView]:
        """Logged calls after ``since``, optionally only of some APIs (``Api`` names)."""
        params = {"since": since, "operation": [str(o) for o in operations]}
        data = await self._call("GET", "/calls", params=params)
        return [CallView.model_validate(c) for c in data["calls"]]

    async def add_fault(self, spec: FaultSpec) -> FaultView:
        """Install a fault."""
        body = as_body(spec)
        return FaultView.model_validate(await self._call("POST", "/faults", body))

    async def faults(self) -> list[FaultView]:
        """Installed faults with their counters."""
        data = await self._call("GET", "/faults")
        return [FaultView.model_validate(f) for f in data["faults"]]

    async def clear_faults(self) -> int:
        """Remove every fault; returns how many there were."""
        removed: int = (await self._call("DELETE", "/faults"))["removed"]
        return removed

    async def remove_fault(self, fault_id: int) -> None:
        """Remove one fault."""
        await self._call("DELETE", f"/faults/{fault_id}")

    async def limits(self) -> LimitsView:
        """The platform's current limits."""
        return LimitsView.model_validate(await self._call("GET", "/limits"))

    async def set_limits(self, limits: LimitsView) -> LimitsView:
        """Replace the platform's limits."""
        body = as_body(limits)
        return LimitsView.model_validate(await self._call("PUT", "/limits", body))

    async def set_qps(self, qps: int, operation: str | None = None) -> LimitsView:
        """Set the QPS limit of every API, or of one (an ``Api`` name)."""
        current = await self.limits()
        if operation is None:
            changed = current.model_copy(update={"qps": qps})
        else:
            per_operation = {**current.qps_per_operation, Api(operation): qps}
            changed = current.model_copy(update={"qps_per_operation": per_operation})
        return await self.set_limits(changed)

    async def advance_clock(self, seconds: float) -> float:
        """Move the emulated clock forward; returns its new epoch seconds."""
        now: float = (await self._call("POST", "/clock/advance", {"seconds": seconds}))["now"]
        return now

    @asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[EventView]]:
        """Subscribe to the event bus; the block starts once the subscription is live."""
        async with self._client.sse(f"{self._base}/events") as source:
            stream = aiter(source)
            ready = await anext(stream)
            if ready.event != "ready":
                raise EmulatorError(f"unexpected first event {ready.event!r}")

            async def views() -> AsyncIterator[EventView]:
                async for sse in stream:
                    yield EventView.model_validate_json(sse.data)

            yield views()

    @property
    def model(self) -> ModelControl:
        """The simulated model's own control API, over the same HTTP client."""
        return ModelControl(self._call)
