"""The control API of the emulator's inbound side: Stream connections and HTTP callbacks.

Mounted with the rest of the control API under ``/_emulator`` (``routes`` wraps these
handlers: JSON out, ``{"error"}`` with 400/404/409, 422 for a body that does not
validate). Calls with ``min`` and ``wait`` long-poll: they answer once ``min`` items
match or, after ``wait`` seconds, 408.

Stream
  ``GET|PUT /stream/settings``                  ``StreamSettingsView`` (PUT: fields given
                                                are replaced)
  ``GET  /stream/connections?client_id=&live=true&min=&wait=``  → ``{"connections"}``
  ``GET  /stream/frames?since=&client_id=``     → ``{"frames"}`` sent, oldest first
  ``GET  /stream/acks?since=&message_id=&connection_id=&min=&wait=``  → ``{"acks"}``
  ``GET  /stream/deliveries?client_id=``        → ``{"deliveries"}``
  ``GET  /stream/deliveries/{id}?state=&wait=`` → delivery (waits for ``state``)
  ``POST /stream/deliveries/{id}/redeliver``    → frame: send it again, even if acked
  ``POST /stream/ping``        ``{client_id?, connection_id?}`` → ``{"frames"}``
  ``POST /stream/disconnect``  ``{client_id?, connection_id?, reason?, delay?}``
                                                → ``{"frames"}`` (then the socket closes)
  ``POST /stream/raw``         ``{client_id?, connection_id?, text}`` → ``{"frames"}``
  ``POST /stream/close``       ``{client_id?, connection_id?, code?}`` → ``{"connections"}``
                                                (a drop without a disconnect frame)
HTTP callbacks
  ``GET|PUT /apps/{client_id}/callbacks``       ``{robot_url?, action_url?, action_token?}``
                                                → ``CallbacksView`` (PUT replaces)
  ``GET  /callbacks?since=``                    → ``{"callbacks"}`` posted, oldest first
  ``POST /callbacks/raw``      ``{client_id?, door, body, headers?, signed?}`` → callback
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx2
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from bridge.emulator.control.views import CallbackDoor, DeliveryState
from bridge.emulator.errors import EmulatorError
from bridge.emulator.gateway.connection import Connection
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.dispatch import CALLBACK_TIMEOUT
from bridge.emulator.webhooks.poster import post, raw_request

Handler = Callable[[Request], Awaitable[Any]]
RouteSpec = tuple[str, Handler, list[str], int]
M = TypeVar("M", bound=BaseModel)
_STATES: dict[str, DeliveryState] = {"pending": "pending", "acked": "acked", "gave_up": "gave_up"}


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetBody(_Body):
    """``POST /stream/ping``: one connection, or every live one of an app (or of all)."""

    client_id: str | None = None
    connection_id: str | None = None


class DisconnectBody(TargetBody):
    """``POST /stream/disconnect``."""

    reason: str = "emulator"
    delay: float | None = Field(default=None, ge=0)


class RawBody(TargetBody):
    """``POST /stream/raw``."""

    text: str


class CloseBody(TargetBody):
    """``POST /stream/close``."""

    code: int = Field(default=1000, ge=1000, le=4999)


class CallbacksBody(_Body):
    """``PUT /apps/{client_id}/callbacks``."""

    robot_url: str | None = None
    action_url: str | None = None
    action_token: str | None = None


class RawCallbackBody(_Body):
    """``POST /callbacks/raw``."""

    client_id: str | None = None
    door: CallbackDoor = "robot"
    body: str
    headers: dict[str, str] = Field(default_factory=dict)
    signed: bool = False


async def _parse(request: Request, model: type[M]) -> M:
    return model.model_validate_json(await request.body() or b"{}")


def _int(request: Request, name: str, default: int = 0) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise EmulatorError(f"{name} must be an integer") from None


def _float(request: Request, name: str) -> float:
    try:
        return float(request.query_params.get(name, 0))
    except ValueError:
        raise EmulatorError(f"{name} must be a number") from None


def _dump(items: Sequence[BaseModel]) -> list[Any]:
    return [i.model_dump(mode="json") for i in items]


async def _long_poll(
    emulator: Emulator, request: Request, found: Callable[[], Sequence[BaseModel]]
) -> Sequence[BaseModel]:
    """``found()``, once it has ``min`` items (waiting up to ``wait`` s), else a 408."""
    wanted = _int(request, "min")
    wait = _float(request, "wait")
    if wanted and not await emulator.stream.wait_until(lambda: len(found()) >= wanted, wait):
        raise EmulatorError(f"fewer than {wanted} after {wait:g} s", status=408)
    return found()


def patched(current: M, body: bytes, what: str) -> M:
    """``current`` with the fields a PUT body gives replaced (the rest kept), validated."""
    try:
        raw = json.loads(body or b"{}")
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise EmulatorError(f"{what} must be a JSON object")
    return type(current).model_validate(current.model_dump(mode="json") | raw)


def stream_control_routes(emulator: Emulator) -> list[RouteSpec]:
    """Handlers of the Stream and callback control calls (``control`` mounts them)."""

    def targets(body: TargetBody) -> list[Connection]:
        return emulator.stream.targets(body.client_id, body.connection_id)

    async def settings(request: Request) -> Any:
        if request.method == "PUT":
            body = await request.body()
            emulator.stream.set_settings(patched(emulator.stream.settings, body, "settings"))
        return emulator.stream.settings

    async def connections(request: Request) -> Any:
        client_id = request.query_params.get("client_id")
        live_only = request.query_params.get("live", "false").lower() in ("1", "true")

        def found() -> list[Any]:
            hub = emulator.stream
            if live_only:
                return [c.view() for c in hub.live(client_id)]
            return [c.view() for c in hub.connections.values() if client_id in (None, c.client_id)]

        return {"connections": _dump(await _long_poll(emulator, request, found))}

    async def frames(request: Request) -> Any:
        found = emulator.stream.frames(
            _int(request, "since"), request.query_params.get("client_id")
        )
        return {"frames": _dump(found)}

    async def acks(request: Request) -> Any:
        since = _int(request, "since")
        message_id = request.query_params.get("message_id")
        connection_id = request.query_params.get("connection_id")
        found = await _long_poll(
            emulator, request, lambda: emulator.stream.acks(since, message_id, connection_id)
        )
        return {"acks": _dump(found)}

    async def deliveries(request: Request) -> Any:
        client_id = request.query_params.get("client_id")
        found = [
            d.view()
            for d in emulator.stream.deliveries.values()
            if client_id in (None, d.client_id)
        ]
        return {"deliveries": _dump(found)}

    async def delivery(request: Request) -> Any:
        found = emulator.stream.delivery(request.path_params["delivery_id"])
        wanted: list[DeliveryState] = []
        for state in request.query_params.getlist("state"):
            if state not in _STATES:
                raise EmulatorError(f"unknown delivery state {state!r}")
            wanted.append(_STATES[state])
        if wanted:
            wait = _float(request, "wait")
            if not await emulator.stream.wait_until(lambda: found.state in wanted, wait):
                raise EmulatorError(f"delivery is {found.state} after {wait:g} s", status=408)
        return found.view()

    async def redeliver(request: Request) -> Any:
        found = emulator.stream.delivery(request.path_params["delivery_id"])
        return emulator.stream.redeliver(found)

    async def ping(request: Request) -> Any:
        body = await _parse(request, TargetBody)
        return {"frames": _dump([emulator.stream.ping(c) for c in targets(body)])}

    async def disconnect(request: Request) -> Any:
        body = await _parse(request, DisconnectBody)
        sent = [emulator.stream.disconnect(c, body.reason, body.delay) for c in targets(body)]
        return {"frames": _dump(sent)}

    async def raw(request: Request) -> Any:
        body = await _parse(request, RawBody)
        return {"frames": _dump([emulator.stream.inject(c, body.text) for c in targets(body)])}

    async def close(request: Request) -> Any:
        body = await _parse(request, CloseBody)
        closing = targets(body)
        for connection in closing:
            emulator.stream.close(connection, body.code)
        return {"connections": _dump([c.view() for c in closing])}

    async def app_callbacks(request: Request) -> Any:
        client_id = emulator.apps.app(request.path_params["client_id"]).client_id
        if request.method == "PUT":
            body = await _parse(request, CallbacksBody)
            emulator.callbacks.register(
                client_id,
                robot_url=body.robot_url,
                action_url=body.action_url,
                action_token=body.action_token,
            )
        return emulator.callbacks.registration(client_id).view()

    async def callbacks(request: Request) -> Any:
        return {"callbacks": _dump(emulator.callbacks.since(_int(request, "since")))}

    async def raw_callback(request: Request) -> Any:
        body = await _parse(request, RawCallbackBody)
        if body.client_id is None:
            if not emulator.apps.apps:
                raise EmulatorError("no app is registered")
            app = next(iter(emulator.apps.apps.values()))
        else:
            app = emulator.apps.app(body.client_id)
        callback = raw_request(
            emulator.callbacks.registration(app.client_id),
            body.door,
            body.body,
            body.headers,
            signed=body.signed,
            secret=app.client_secret,
            now_ms=emulator.clock.now_ms(),
        )
        async with httpx2.AsyncClient(timeout=CALLBACK_TIMEOUT, trust_env=False) as client:
            answer = await post(client, callback)
        return emulator.callbacks.record(app.client_id, callback, answer)

    return [
        ("/stream/settings", settings, ["GET", "PUT"], 200),
        ("/stream/connections", connections, ["GET"], 200),
        ("/stream/frames", frames, ["GET"], 200),
        ("/stream/acks", acks, ["GET"], 200),
        ("/stream/deliveries", deliveries, ["GET"], 200),
        ("/stream/deliveries/{delivery_id}", delivery, ["GET"], 200),
        ("/stream/deliveries/{delivery_id}/redeliver", redeliver, ["POST"], 200),
        ("/stream/ping", ping, ["POST"], 200),
        ("/stream/disconnect", disconnect, ["POST"], 200),
        ("/stream/raw", raw, ["POST"], 200),
        ("/stream/close", close, ["POST"], 200),
        ("/apps/{client_id}/callbacks", app_callbacks, ["GET", "PUT"], 200),
        ("/callbacks", callbacks, ["GET"], 200),
        ("/callbacks/raw", raw_callback, ["POST"], 200),
    ]
