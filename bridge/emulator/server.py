"""Running the emulator: uvicorn on a socket we bind, inside the caller's task group.

``running_emulator`` is what tests, the benchmark and the sandbox use: it binds
127.0.0.1 on an ephemeral port (or the one given), serves until the block ends and stops
the server within a bounded time, also when the block is cancelled. ``serve`` runs it
until cancelled, for ``bridge emulator``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import uvicorn

from bridge.emulator.app import create_app
from bridge.emulator.state import Emulator

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
"""Seconds to wait for uvicorn to stop gracefully before cancelling it."""


@dataclass(frozen=True)
class RunningEmulator:
    """A served emulator: where it listens and the state behind it."""

    base_url: str
    emulator: Emulator


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


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@asynccontextmanager
async def running_emulator(
    emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator with uvicorn inside the current task group; yield once listening."""
    world = emulator if emulator is not None else Emulator.with_defaults()
    sock = _bind(host, port)
    base_url = _url(host, sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(world),
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.run_until_exit, sock)
            await server.ready.wait()
            if not server.started:
                raise RuntimeError(f"the emulator could not start on {base_url}")
            world.base_url = base_url
            try:
                yield RunningEmulator(base_url=base_url, emulator=world)
            finally:
                # Open event streams would hold the graceful shutdown up.
                world.bus.disconnect_all()
                server.should_exit = True
                with anyio.move_on_after(STOP_TIMEOUT, shield=True):
                    await server.stopped.wait()
                if not server.stopped.is_set():
                    log.warning("the emulator did not stop within %.0f s", STOP_TIMEOUT)
                tg.cancel_scope.cancel()
    finally:
        sock.close()


async def serve(emulator: Emulator, host: str, port: int) -> None:
    """Serve ``emulator`` on ``host:port`` until cancelled (``bridge emulator``)."""
    async with running_emulator(emulator, host=host, port=port) as running:
        log.info("DingTalk emulator listening on %s", running.base_url)
        await anyio.sleep_forever()
