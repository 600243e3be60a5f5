"""Typed calls to the inbound side of the control API: the Stream gateway and HTTP callbacks.

``StreamControl`` covers the routes of ``control.stream`` (connections, frames, ACKs,
deliveries, pings, disconnects, raw frames, dropped sockets; callback URLs, posted
callbacks, raw callbacks). ``EmulatorControl`` inherits these calls, so tests use one
client for the whole control API. Calls with ``count``/``states`` long-poll and raise
``EmulatorError(408)`` when ``wait`` runs out.
"""

from __future__ import annotations

from bridge.emulator.control.transport import ControlTransport, as_body, present
from bridge.emulator.control.views import (
    AckView,
    CallbackDoor,
    CallbacksView,
    CallbackView,
    ConnectionView,
    DeliveryState,
    DeliveryView,
    FrameView,
    StreamSettingsView,
)


class StreamControl(ControlTransport):
    """Typed calls to ``/_emulator/stream/…``, ``/_emulator/callbacks…`` and app callback URLs."""

    # -- stream gateway --------------------------------------------------------------------

    async def stream_settings(self) -> StreamSettingsView:
        """The Stream gateway's timers and limits."""
        return StreamSettingsView.model_validate(await self._call("GET", "/stream/settings"))

    async def set_stream_settings(self, settings: StreamSettingsView) -> StreamSettingsView:
        """Replace the Stream gateway's settings (live connections use them at once)."""
        body = as_body(settings)
        return StreamSettingsView.model_validate(await self._call("PUT", "/stream/settings", body))

    async def connections(
        self, client_id: str | None = None, *, live: bool = False
    ) -> list[ConnectionView]:
        """Stream connections (only the live ones with ``live``), of one app or all."""
        params = {"client_id": client_id, "live": str(live).lower()}
        data = await self._call("GET", "/stream/connections", params=present(params))
        return [ConnectionView.model_validate(c) for c in data["connections"]]

    async def wait_connections(
        self, count: int = 1, *, client_id: str | None = None, wait: float = 10.0
    ) -> list[ConnectionView]:
        """The live connections once there are ``count``; EmulatorError(408) after ``wait``."""
        params = {"client_id": client_id, "live": "true", "min": count, "wait": wait}
        data = await self._call("GET", "/stream/connections", params=present(params), wait=wait)
        return [ConnectionView.model_validate(c) for c in data["connections"]]

    async def frames(self, since: int = 0, *, client_id: str | None = None) -> list[FrameView]:
        """Frames the gateway sent after ``since``, oldest first."""
        params = present({"since": since, "client_id": client_id})
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
        data = await self._call("GET", "/stream/acks", params=present(params), wait=wait)
        return [AckView.model_validate(a) for a in data["acks"]]

    async def deliveries(self, client_id: str | None = None) -> list[DeliveryView]:
        """Inbound messages delivered over Stream, with their frames."""
        data = await self._call(
            "GET", "/stream/deliveries", params=present({"client_id": client_id})
        )
        return [DeliveryView.model_validate(d) for d in data["deliveries"]]

    async def delivery(
        self, delivery_id: str, *states: DeliveryState, wait: float = 10.0
    ) -> DeliveryView:
        """One delivery; with ``states``, once it is in one of them (else 408)."""
        params = {"state": list(states), "wait": wait if states else None}
        data = await self._call(
            "GET", f"/stream/deliveries/{delivery_id}", params=present(params), wait=wait
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
