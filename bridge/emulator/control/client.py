"""``EmulatorControl``: a small typed async client for the control API (``control.py``).

Tests, the benchmark and the sandbox drive the emulator with it over real HTTP. It is
given an ``httpx2.AsyncClient`` (and closes nothing: whoever created the client closes
it) and the emulator's base URL; answers are parsed into the models of ``views``, and a
refusal raises ``EmulatorError`` with the control API's status and message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx2
from pydantic import BaseModel

from bridge.emulator.control.views import (
    AckView,
    AppKind,
    AppView,
    CallbackDoor,
    CallbacksView,
    CallbackVariant,
    CallbackView,
    CallView,
    ConnectionView,
    ConversationType,
    ConversationView,
    DeliverHow,
    DeliveryState,
    DeliveryView,
    EventView,
    FaultSpec,
    FaultView,
    FrameView,
    InboundView,
    LimitsView,
    MessageStateName,
    MessageView,
    StreamSettingsView,
    TemplateView,
    UserView,
    WorldView,
)
from bridge.emulator.errors import EmulatorError
from bridge.emulator.model.control import ModelControl
from bridge.emulator.openapi.endpoints import Api

M = TypeVar("M", bound=BaseModel)


class EmulatorControl:
    """Typed calls to ``/_emulator/…``."""

    def __init__(self, client: httpx2.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base = f"{base_url.rstrip('/')}/_emulator"

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
    ) -> InboundView:
        """``user_id`` says ``text``; returns what the platform hands the bridge.

        It is delivered to the app as ``dispatch`` says: ``deliver`` (stream, http or
        none; default: stream if the app listens, else http if it registered a URL),
        ``door`` (robot or action; default by conversation type), ``at_bot`` (a group
        message @-mentions the bot) and ``variant`` (a deliberately spoiled callback).
        ``InboundView.delivery`` tells how it went.
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
        }
        return InboundView.model_validate(await self._call("POST", "/inbound", body))

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

    # -- wire ----------------------------------------------------------------------------

    async def calls(self, since: int = 0, operations: Sequence[str] = ()) -> list[CallView]:
        """Logged calls after ``since``, optionally only of some APIs (``Api`` names)."""
        params = {"since": since, "operation": [str(o) for o in operations]}
        data = await self._call("GET", "/calls", params=params)
        return [CallView.model_validate(c) for c in data["calls"]]

    async def add_fault(self, spec: FaultSpec) -> FaultView:
        """Install a fault."""
        body = spec.model_dump(mode="json")
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
        body = limits.model_dump(mode="json")
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

    # -- stream gateway --------------------------------------------------------------------

    async def stream_settings(self) -> StreamSettingsView:
        """The Stream gateway's timers and limits."""
        return StreamSettingsView.model_validate(await self._call("GET", "/stream/settings"))

    async def set_stream_settings(self, settings: StreamSettingsView) -> StreamSettingsView:
        """Replace the Stream gateway's settings (live connections use them at once)."""
        body = settings.model_dump(mode="json")
        return StreamSettingsView.model_validate(await self._call("PUT", "/stream/settings", body))

    async def connections(
        self, client_id: str | None = None, *, live: bool = False
    ) -> list[ConnectionView]:
        """Stream connections (only the live ones with ``live``), of one app or all."""
        params = {"client_id": client_id, "live": str(live).lower()}
        data = await self._call("GET", "/stream/connections", params=_present(params))
        return [ConnectionView.model_validate(c) for c in data["connections"]]

    async def wait_connections(
        self, count: int = 1, *, client_id: str | None = None, wait: float = 10.0
    ) -> list[ConnectionView]:
        """The live connections once there are ``count``; EmulatorError(408) after ``wait``."""
        params = {"client_id": client_id, "live": "true", "min": count, "wait": wait}
        data = await self._call("GET", "/stream/connections", params=_present(params), wait=wait)
        return [ConnectionView.model_validate(c) for c in data["connections"]]

    async def frames(self, since: int = 0, *, client_id: str | None = None) -> list[FrameView]:
        """Frames the gateway sent after ``since``, oldest first."""
        params = _present({"since": since, "client_id": client_id})
        data = await self._call("GET", "/stream/frames", params=params)
        return [FrameView.model_validate(f) for f in data["frames"]]

    async def acks(
        self,
        since: int = 0,
        *,
        message_id: str | None = None,
        connection_id: str | None = None,
        count: int = 0,
        wait: float = 10.0,
    ) -> list[AckView]:
        """ACKs after ``since``; with ``count``, wait until that many match (else 408)."""
        params = {
            "since": since,
            "message_id": message_id,
            "connection_id": connection_id,
            "min": count or None,
            "wait": wait if count else None,
        }
        data = await self._call("GET", "/stream/acks", params=_present(params), wait=wait)
        return [AckView.model_validate(a) for a in data["acks"]]

    async def deliveries(self, client_id: str | None = None) -> list[DeliveryView]:
        """Inbound messages delivered over Stream, with their frames."""
        data = await self._call(
            "GET", "/stream/deliveries", params=_present({"client_id": client_id})
        )
        return [DeliveryView.model_validate(d) for d in data["deliveries"]]

    async def delivery(
        self, delivery_id: str, *states: DeliveryState, wait: float = 10.0
    ) -> DeliveryView:
        """One delivery; with ``states``, once it is in one of them (else 408)."""
        params = {"state": list(states), "wait": wait if states else None}
        data = await self._call(
            "GET", f"/stream/deliveries/{delivery_id}", params=_present(params), wait=wait
        )
        return DeliveryView.model_validate(data)

    async def redeliver(self, delivery_id: str) -> FrameView:
        """Send a delivery again now (new messageId, same payload), even if acked."""
        data = await self._call("POST", f"/stream/deliveries/{delivery_id}/redeliver")
        return FrameView.model_validate(data)

    async def ping(
        self, *, client_id: str | None = None, connection_id: str | None = None
    ) -> list[FrameView]:
        """A SYSTEM ping now on one connection or every live one (of an app)."""
        body = {"client_id": client_id, "connection_id": connection_id}
        data = await self._call("POST", "/stream/ping", body)
        return [FrameView.model_validate(f) for f in data["frames"]]

    async def disconnect(
        self,
        *,
        client_id: str | None = None,
        connection_id: str | None = None,
        reason: str = "emulator",
        delay: float | None = None,
    ) -> list[FrameView]:
        """A SYSTEM disconnect; the socket closes ``delay`` s later (settings default)."""
        body = {
            "client_id": client_id,
            "connection_id": connection_id,
            "reason": reason,
            "delay": delay,
        }
        data = await self._call("POST", "/stream/disconnect", body)
        return [FrameView.model_validate(f) for f in data["frames"]]

    async def inject(
        self, text: str, *, client_id: str | None = None, connection_id: str | None = None
    ) -> list[FrameView]:
        """Send arbitrary text as a frame (malformed-frame tests)."""
        body = {"client_id": client_id, "connection_id": connection_id, "text": text}
        data = await self._call("POST", "/stream/raw", body)
        return [FrameView.model_validate(f) for f in data["frames"]]

    async def close_connections(
        self,
        *,
        client_id: str | None = None,
        connection_id: str | None = None,
        code: int = 1000,
    ) -> list[ConnectionView]:
        """Drop sockets without a disconnect frame."""
        body = {"client_id": client_id, "connection_id": connection_id, "code": code}
        data = await self._call("POST", "/stream/close", body)
        return [ConnectionView.model_validate(c) for c in data["connections"]]

    # -- HTTP callbacks ------------------------------------------------------------------

    async def register_callbacks(
        self,
        client_id: str,
        *,
        robot_url: str | None = None,
        action_url: str | None = None,
        action_token: str | None = None,
    ) -> CallbacksView:
        """Set (replace) an app's callback URLs and the action door's bearer token."""
        body = {"robot_url": robot_url, "action_url": action_url, "action_token": action_token}
        data = await self._call("PUT", f"/apps/{client_id}/callbacks", body)
        return CallbacksView.model_validate(data)

    async def callback_registration(self, client_id: str) -> CallbacksView:
        """An app's callback URLs."""
        return CallbacksView.model_validate(await self._call("GET", f"/apps/{client_id}/callbacks"))

    async def callbacks(self, since: int = 0) -> list[CallbackView]:
        """HTTP callbacks posted after ``since`` and what the receiver answered."""
        data = await self._call("GET", "/callbacks", params={"since": since})
        return [CallbackView.model_validate(c) for c in data["callbacks"]]

    async def post_raw_callback(
        self,
        body: str,
        *,
        client_id: str | None = None,
        door: CallbackDoor = "robot",
        headers: dict[str, str] | None = None,
        signed: bool = False,
    ) -> CallbackView:
        """POST arbitrary text to a registered URL (``signed``: valid credentials added)."""
        request = {
            "client_id": client_id,
            "door": door,
            "body": body,
            "headers": headers or {},
            "signed": signed,
        }
        return CallbackView.model_validate(await self._call("POST", "/callbacks/raw", request))

    # -- transport -----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        wait: float | None = None,
    ) -> Any:
        # A long poll must outlive its own ``wait`` on the client side.
        timeout = self._client.timeout if wait is None else httpx2.Timeout(wait + 10.0)
        response = await self._client.request(
            method, f"{self._base}{path}", json=body, params=params, timeout=timeout
        )
        data = response.json()
        if response.status_code >= 400:
            raise EmulatorError(str(data.get("error", response.text)), status=response.status_code)
        return data

    @property
    def model(self) -> ModelControl:
        """The simulated model's own control API, over the same HTTP client."""
        return ModelControl(self._call)


def _present(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones left out (None)."""
    return {k: v for k, v in params.items() if v is not None}
