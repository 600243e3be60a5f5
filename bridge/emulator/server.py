"""Running the emulator: uvicorn on a socket we bind, inside the caller's task group.

``running_emulator`` is what tests, the benchmark and the sandbox use: it binds
127.0.0.1 on an ephemeral port (or the one given), serves until the block ends and stops
the server within a bounded time, also when the block is cancelled. ``serve`` runs it
until cancelled, for ``bridge emulator``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from starlette.routing import BaseRoute

from bridge.emulator.app import create_app
from bridge.emulator.state import Emulator
from bridge.serving import running_server

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningEmulator:
    """A served emulator: where it listens and the state behind it."""

    base_url: str
    emulator: Emulator


@asynccontextmanager
async def running_emulator(
    emulator: Emulator | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    extra: Sequence[BaseRoute] = (),
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator with uvicorn inside the current task group; yield once listening.

    ``extra`` routes are matched before the emulator's own (``create_app``).
    """
    world = emulator if emulator is not None else Emulator.with_defaults()
    # Open event streams (SSE, WebSockets) would hold the graceful shutdown up.
    app = create_app(world, extra=extra)
    async with running_server(
        app, host=host, port=port, before_stop=world.bus.disconnect_all
    ) as base_url:
        world.base_url = base_url
        yield RunningEmulator(base_url=base_url, emulator=world)


async def serve(emulator: Emulator, host: str, port: int) -> None:
    """Serve ``emulator`` on ``host:port`` until cancelled (``bridge emulator``)."""
    async with running_emulator(emulator, host=host, port=port) as running:
        log.info("DingTalk emulator listening on %s", running.base_url)
        await anyio.sleep_forever()
