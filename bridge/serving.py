"""Serving an ASGI app with uvicorn inside the caller's task group.

Used by ``bridge serve`` (the HTTP doors) and the emulator. We bind the socket ourselves
so port 0 gives an ephemeral port whose URL is known before the first request, wait for
uvicorn to be listening before yielding, and stop it within a bounded time when the block
ends, also when it ends by cancellation.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

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

    async def run_until_exit(self, sock: socket.socket) -> None:
        try:
            await self.serve([sock])
        finally:
            self.ready.set()
            self.stopped.set()


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: an ephemeral one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
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
        access_log=False,
        timeout_graceful_shutdown=max(1, round(graceful)),
    )
    server = _Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.run_until_exit, sock)
            await server.ready.wait()
            if not server.started:
                raise OSError(f"could not start serving on {base_url}")
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
