"""The Stream gateway of the emulator (contract §6.1–6.2): ticket endpoint and WebSocket.

``POST /v1.0/gateway/connections/open`` is routed from the endpoint table and goes through
the same pipeline as every platform call (faults, QPS, call log as ``Api.GATEWAY_OPEN``).
It answers ``{"endpoint": "ws://<host:port>/connect", "ticket": "…"}``; a bad Client ID
or Secret is a 400 ``invalidClientIdOrSecret``, a missing field a 400
``invalidParameter``. Like DingTalk's gateway it answers JSON only to a request with
``Accept: application/json``, and XML otherwise (``negotiation``).

``GET /connect?ticket=…`` (WebSocket): an unknown, used or expired ticket is refused at the
handshake with **HTTP 403** and a JSON body ``{"code": "invalidTicket", "message",
"requestid"}`` (the socket never opens). An accepted socket belongs to the ticket's app
and topics and runs four tasks until one of them ends it: the writer drains the
connection's outbox (frames, and close instructions with their delay), the reader feeds
every text the client sends to ``StreamHub.on_text`` (ACKs), the ticker sends ``ping``
frames every ``ping_interval`` and, when ``disconnect_every`` is set, a ``disconnect``
at random, and the bus watcher closes the socket when the server stops (the bus's
``disconnect_all`` is the server's before-stop hook), so shutdown is never held up.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bridge.emulator.control.views import EventView
from bridge.emulator.errors import EmulatorError, Rejection
from bridge.emulator.gateway.connection import Close, Connection
from bridge.emulator.gateway.hub import StreamHub
from bridge.emulator.gateway.negotiation import negotiated
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.openapi.pipeline import Caller, answer, endpoint_route
from bridge.emulator.state import Emulator

log = logging.getLogger(__name__)

CONNECT_PATH = "/connect"
GOING_AWAY = 1001

_SocketGone = (WebSocketDisconnect, OSError, RuntimeError)
"""What Starlette/uvicorn raise when the peer is already gone (RuntimeError: after close)."""


def websocket_endpoint(request: Request) -> str:
    """``ws://host:port/connect`` for the host the client reached us on."""
    base = str(request.base_url).rstrip("/")
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{CONNECT_PATH}"


def gateway_routes(emulator: Emulator) -> list[BaseRoute]:
    """``POST /v1.0/gateway/connections/open`` and the ``/connect`` WebSocket."""

    async def open_connection(request: Request) -> Response:
        endpoint = websocket_endpoint(request)

        def action(world: Emulator, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
            del caller
            return world.stream.tickets.open(body, endpoint)

        return negotiated(request, await answer(emulator, request, Api.GATEWAY_OPEN, action))

    async def connect(websocket: WebSocket) -> None:
        await serve_connection(emulator, websocket)

    return [
        endpoint_route(Api.GATEWAY_OPEN, open_connection),
        WebSocketRoute(CONNECT_PATH, connect),
    ]


@dataclass
class _Ending:
    """How the socket ended, filled in by whichever task ended it."""

    code: int | None = None


async def serve_connection(emulator: Emulator, websocket: WebSocket) -> None:
    """Redeem the ticket, then run the connection until either side closes it."""
    hub = emulator.stream  # a reset builds a new hub; this socket stays with its own
    try:
        ticket = hub.tickets.redeem(websocket.query_params.get("ticket"))
    except Rejection as refusal:
        body = {
            "code": refusal.code,
            "message": refusal.message,
            "requestid": secrets.token_hex(16).upper(),
        }
        await websocket.send_denial_response(JSONResponse(body, status_code=refusal.status))
        return
    await websocket.accept()
    ending = _Ending()
    connection: Connection | None = None
    try:
        with emulator.bus.subscribe() as events:
            async with anyio.create_task_group() as tg:
                connection = hub.attach(ticket, tg)
                tg.start_soon(_write, websocket, connection, tg, ending)
                tg.start_soon(_read, websocket, hub, connection, tg, ending)
                tg.start_soon(_tick, hub, connection)
                tg.start_soon(_watch_bus, events, hub, connection)
    finally:
        if connection is not None:
            hub.detach(connection, ending.code)


async def _write(
    websocket: WebSocket, connection: Connection, tg: TaskGroup, ending: _Ending
) -> None:
    """Frames from the outbox onto the socket; a ``Close`` ends the connection."""
    async for item in connection.inbox:
        if isinstance(item, Close):
            connection.draining = True
            # The reader keeps taking ACKs (a disconnect may be acked) while we wait.
            await anyio.sleep(item.delay)
            ending.code = item.code
            with contextlib.suppress(*_SocketGone):
                await websocket.close(item.code, item.reason)
            break
        try:
            await websocket.send_text(item)
        except _SocketGone:
            break
    connection.draining = True
    tg.cancel_scope.cancel()


async def _read(
    websocket: WebSocket,
    hub: StreamHub,
    connection: Connection,
    tg: TaskGroup,
    ending: _Ending,
) -> None:
    """Every text the client sends is an ACK (or an attempt at one)."""
    while True:
        try:
            message = await websocket.receive()
        except _SocketGone:
            break
        if message["type"] == "websocket.disconnect":
            if ending.code is None:
                ending.code = message.get("code")
            break
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
        hub.on_text(connection, text)
    connection.draining = True
    tg.cancel_scope.cancel()


async def _tick(hub: StreamHub, connection: Connection) -> None:
    """SYSTEM pings every ``ping_interval``; a random ``disconnect`` if configured."""
    while True:
        settings, changed = hub.settings, hub.settings_changed
        now = anyio.current_time()
        next_ping = now + settings.ping_interval if settings.ping_interval else None
        next_drop = None
        if settings.disconnect_every:
            next_drop = now + settings.disconnect_every * hub.random.uniform(0.5, 1.5)
        while True:
            due = [t for t in (next_ping, next_drop) if t is not None]
            with anyio.move_on_after(min(due) - anyio.current_time() if due else None):
                await changed.wait()
                break  # new settings: reschedule from now
            if connection.draining or connection.closed_at is not None:
                return
            now = anyio.current_time()
            try:
                if next_drop is not None and now >= next_drop:
                    hub.disconnect(connection, "random disconnect (emulator)")
                    return
                if next_ping is not None and now >= next_ping:
                    hub.ping(connection)
                    next_ping = now + (settings.ping_interval or 0)
            except EmulatorError:  # the outbox is closed or full: the socket is ending
                return


async def _watch_bus(
    events: MemoryObjectReceiveStream[EventView], hub: StreamHub, connection: Connection
) -> None:
    """The bus ends every subscription when the server stops: close the socket then."""
    async for _ in events:
        pass
    hub.close(connection, GOING_AWAY)
