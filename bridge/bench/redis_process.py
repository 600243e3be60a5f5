"""A ``redis-server`` of the benchmark's own, for ``bridge bench --instances N``.

Several bridge processes share their rate budget through Redis, so a run with instances
starts one real ``redis-server`` (found on PATH) on a free loopback port, keeping
nothing on disk, and stops it when the run ends. ``redis-server`` has no ``--port 0``:
the port is found by binding a socket first.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from bridge.bench.errors import BenchError

__all__ = ["spawned_redis"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
#: Between two attempts to reach the starting server (it says nothing when it is up).
_POLL = 0.05


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _answers_ping(port: int) -> bool:
    try:
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"PING\r\n")
            return (await stream.receive(64)).startswith(b"+PONG")
    except (OSError, anyio.EndOfStream, anyio.BrokenResourceError):
        return False


@asynccontextmanager
async def spawned_redis(*, start_timeout: float = START_TIMEOUT) -> AsyncIterator[str]:
    """Start ``redis-server`` on 127.0.0.1; yield its ``redis://`` URL; stop it at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError(
            "--instances needs redis-server on PATH (e.g. apt-get install redis-server)"
        )
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bridge-bench-redis-") as folder:
        process = await anyio.open_process(
            [
                binary,
                *("--port", str(port), "--bind", "127.0.0.1", "--dir", folder),
                *("--save", "", "--appendonly", "no", "--protected-mode", "yes"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=None,  # its complaints, if any, show on ours
        )
        try:
            with anyio.move_on_after(start_timeout):
                while not await _answers_ping(port):
                    if process.returncode is not None:
                        break  # it exited: its reason is on our stderr
                    await anyio.sleep(_POLL)  # a starting server gives no other signal
            if not await _answers_ping(port):
                raise BenchError(f"redis-server did not answer within {start_timeout:g} s")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            with anyio.move_on_after(STOP_TIMEOUT, shield=True):
                if process.returncode is None:
                    process.terminate()
                await process.wait()
            if process.returncode is None:
                process.kill()
