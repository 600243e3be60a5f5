"""Serving an ASGI app with uvicorn inside the caller's task group.

Used by ``bridge serve`` (the HTTP doors) and the emulator. We bind the socket ourselves
so port 0 gives an ephemeral port whose URL is known before the first request (and a
taken port is a ``ListenError`` naming host:port), wait for uvicorn to be listening before
yielding, and stop it within a bounded time when the block ends, also when it ends by
cancellation.

uvicorn is a guest here: it installs no signal handlers (the command that runs it decides
what SIGINT and SIGTERM do, and in which order things stop) and configures no logging
(its records go through the process's own handlers, text or JSON).

**Limits** (``ServerLimits``, given by ``bridge serve``; the emulator serves without):
uvicorn has no timeout for a request head, so a client sending half a request held its
connection, and a thousand of them the process, forever. With limits, each connection
runs ``GuardedProtocol`` (uvicorn's h11 protocol, watched): a request head must be
complete within ``header_timeout`` seconds of the connection opening (or, on a kept-alive
connection, of its first byte: idle in between, uvicorn's keep-alive timeout applies), a
body within ``body_timeout`` of its head (a backstop: the app reads bodies under its
own, shorter deadline), or the connection is closed; past
``max_connections`` open connections a new one is closed at once. When the process runs
out of file descriptors, asyncio logs every failed ``accept()`` (up to the backlog,
2048, per loop tick): ``AcceptErrorThrottle`` lets one such line through per
``ACCEPT_ERROR_INTERVAL`` seconds and counts the rest.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import anyio
import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


class ListenError(OSError):
    """A server cannot listen on its address: the port is in use, or the host not ours.

    Its message names ``host:port`` and the system's reason (``cannot listen on
    127.0.0.1:8080: Address already in use``); the command line prints it as one line.
    It is an ``OSError``, not a ``BridgeError``, because the emulator serves through this
    module too and stands apart from bridge's error tree.
    """


STOP_TIMEOUT = 5.0
"""Seconds to wait for uvicorn to stop gracefully before cancelling it."""
ACCEPT_ERROR_INTERVAL = 10.0
"""At most one "out of file descriptors" accept error is logged per this many seconds."""
_ACCEPT_ERROR = "socket.accept() out of system resource"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client may take from a server (``[serve]`` documents each)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 512
    keep_alive: float = 5.0


@dataclass
class ServerStats:
    """Counters of a guarded server, for /healthz and the tests."""

    refused_connections: int = 0
    timed_out: int = 0


class AcceptErrorThrottle(logging.Filter):
    """Passes one accept-error record per ``interval`` seconds; counts those it drops."""

    def __init__(
        self, interval: float = ACCEPT_ERROR_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_ACCEPT_ERROR):
            return True
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            self.suppressed += 1
            return False
        if self.suppressed:
            record.msg = f"{record.msg}\n({self.suppressed} more like it were not logged)"
            self.suppressed = 0
        self._last = now
        return True


def guarded_protocol(limits: ServerLimits, stats: ServerStats) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``limits`` on connections, heads and bodies."""

    class GuardedProtocol(H11Protocol):
        """Closes a connection whose head or body is late, or one too many (module doc)."""

        _timer: asyncio.TimerHandle | None = None
        _phase: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                stats.refused_connections += 1
                self.transport.close()
                return
            self._watch(expecting=True)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch(expecting=True)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Between requests the connection is idle: uvicorn's keep-alive timeout
            # governs until the next request's first byte arrives.
            self._watch(expecting=False)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _watch(self, *, expecting: bool) -> None:
            """Arm the timer of the phase the client is in: sending a head, or a body.

            ``expecting``: a head is due (the connection is new, or bytes of one came).
            """
            if self.transport.is_closing():
                self._disarm()
                return
            state = self.conn.their_state
            phase = None
            if state is h11.IDLE and expecting:
                phase = "head"
            elif state is h11.SEND_BODY:
                phase = "body"
            if phase == self._phase:
                return
            self._disarm()
            self._phase = phase
            if phase is not None:
                wait = limits.header_timeout if phase == "head" else limits.body_timeout
                self._timer = self.loop.call_later(wait, self._late, phase)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _late(self, phase: str) -> None:
            self._timer = None
            if not self.transport.is_closing():
                stats.timed_out += 1
                log.debug("closing a connection from %s: its %s is late", self.client, phase)
                self.transport.close()

    return GuardedProtocol


class _Server(uvicorn.Server):
    """uvicorn with events for "listening" and "stopped" (it only offers flags to poll)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()
        self.stopped = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take SIGINT/SIGTERM for itself and stop this server first; the
        # command running it owns the signals and stops the servers in its own order.
        yield

    async def run_until_exit(self, sock: socket.socket) -> None:
        try:
            await self.serve([sock])
        finally:
            self.ready.set()
            self.stopped.set()


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: an ephemeral one).

    A port in use, or an address that is not this machine's, is a ``ListenError``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = url_of(host, port).removeprefix("http://")
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    return sock


def url_of(host: str, port: int) -> str:
    """The http URL of ``host:port`` (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@asynccontextmanager
async def running_server(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    before_stop: Callable[[], None] = lambda: None,
    graceful: float = 1.0,
    limits: ServerLimits | None = None,
    stats: ServerStats | None = None,
) -> AsyncIterator[str]:
    """Serve ``app``; yield its base URL once it listens; stop it when the block ends.

    ``before_stop`` runs first on the way out (e.g. to end open event streams, which
    would otherwise hold the graceful shutdown up). ``limits`` guard the server against
    slow or too many clients (module doc); ``stats`` counts what they refused.
    """
    sock = bind(host, port)
    base_url = url_of(host, sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(graceful)),
        http="auto" if limits is None else guarded_protocol(limits, stats or ServerStats()),
        timeout_keep_alive=5 if limits is None else max(1, round(limits.keep_alive)),
    )
    server = _Server(config)
    throttle = AcceptErrorThrottle()
    asyncio_log = logging.getLogger("asyncio")
    if limits is not None:
        asyncio_log.addFilter(throttle)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.run_until_exit, sock)
            await server.ready.wait()
            if not server.started:
                raise ListenError(f"could not start serving on {base_url}")
            try:
                yield base_url
            finally:
                before_stop()
                server.should_exit = True
                with anyio.move_on_after(STOP_TIMEOUT + graceful, shield=True):
                    await server.stopped.wait()
                if not server.stopped.is_set():
                    log.warning("server on %s did not stop in time", base_url)
                tg.cancel_scope.cancel()
    finally:
        asyncio_log.removeFilter(throttle)
        sock.close()
