"""The emulator and simulated model in a child process, so the bridge side is measured alone.

Run as ``python -m bridge.bench.emulator_process``: it serves the default emulated world
on 127.0.0.1 with an ephemeral port, prints its base URL as the first line on stdout,
and serves until its stdin reaches end-of-file (the parent went away or is done) or it
is terminated.

``spawned_emulator()`` is the parent's side: an async context manager that starts the
child, yields the base URL once it listens, and stops the child on every path (closing
its stdin, then terminating and finally killing it, each step bounded and shielded).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from anyio.abc import Process

from bridge.bench.errors import BenchError
from bridge.bench.resources import raise_fd_limit

__all__ = ["main", "spawned_emulator"]

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_MAX_LINE = 4096


@asynccontextmanager
async def spawned_emulator(*, start_timeout: float = START_TIMEOUT) -> AsyncIterator[str]:
    """Start the emulator child; yield its base URL; stop it when the block ends."""
    process = await anyio.open_process(
        [sys.executable, "-m", "bridge.bench.emulator_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,  # the child's warnings show on our stderr
    )
    try:
        try:
            with anyio.fail_after(start_timeout):
                base_url = await _first_line(process)
        except TimeoutError as exc:
            raise BenchError(
                f"the emulator process did not start within {start_timeout:g} s"
            ) from exc
        if not base_url.startswith("http://"):
            raise BenchError(f"the emulator process did not start: {base_url!r}")
        yield base_url
    finally:
        with anyio.move_on_after(STOP_TIMEOUT, shield=True):
            await _stop(process)
        if process.returncode is None:
            log.warning("the emulator process (pid %d) did not stop; killing it", process.pid)
            process.kill()


async def _first_line(process: Process) -> str:
    assert process.stdout is not None
    data = b""
    while b"\n" not in data and len(data) < _MAX_LINE:
        try:
            data += await process.stdout.receive()
        except anyio.EndOfStream:
            break
    return data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


async def _stop(process: Process) -> None:
    """End of stdin asks the child to stop; terminate, then kill, if it does not."""
    if process.stdin is not None:
        await process.stdin.aclose()
    for escalate in (process.terminate, process.kill):
        with anyio.move_on_after(STOP_TIMEOUT / 3):
            await process.wait()
        if process.returncode is not None:
            break
        escalate()
    await process.wait()
    if process.stdout is not None:
        await process.stdout.aclose()


# -- the child -----------------------------------------------------------------------------


async def _serve() -> None:
    from bridge.emulator.server import running_emulator

    async with running_emulator() as running:
        sys.stdout.write(running.base_url + "\n")
        sys.stdout.flush()
        # Serve until the parent closes our stdin (or exits, which closes it too).
        await anyio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)


def main() -> None:
    """The child's entry point."""
    logging.basicConfig(level=logging.WARNING, format="emulator: %(levelname)s %(message)s")
    raise_fd_limit()
    anyio.run(_serve)


if __name__ == "__main__":
    main()
