"""Serving an ASGI app with uvicorn inside the caller's task group.

Used by ``bridge serve`` (the HTTP doors) and the emulator. We bind the socket ourselves
so port 0 gives an ephemeral port whose URL is known before the first request (and a
taken port is a ``ListenError`` naming host:port), wait for uvicorn to be listening before
yielding, and stop it within a bounded time when the block ends, also when it ends by
cancellation.

uvicorn is a guest here: it installs no signal handlers (the command that runs it decides
what SIGINT and SIGTERM do, and in which order things stop) and configures no logging
(its records go through the process's own handlers, text or JSON).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import uvicorn
from starlette.types import ASGIApp

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
) -> AsyncIterator[str]:
    """Serve ``app``; yield its base URL once it listens; stop it when the block ends.

    ``before_stop`` runs first on the way out (e.g. to end open event streams, which
    would otherwise hold the graceful shutdown up).
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
    )
    server = _Server(config)
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
        sock.close()
