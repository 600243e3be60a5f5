"""The emulator in a child process, so the bridge side is measured alone.

The benchmark runs two: one serves as DingTalk, the other as the simulated model, each
on a core of its own when the machine has one free, as the real services would be.

Run as ``python -m bridge.bench.emulator_process``: it serves the default emulated world
on 127.0.0.1 with an ephemeral port, prints its base URL as the first line on stdout,
and serves until its stdin reaches end-of-file (the parent went away or is done) or it
is terminated.

``spawned_emulator()`` is the parent's side: an async context manager that starts the
child, yields the base URL once it listens, and stops the child on every path
(``child.child_process``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread

from bridge.bench.child import Lines, child_process
from bridge.bench.errors import BenchError
from bridge.bench.resources import raise_fd_limit

__all__ = ["main", "spawned_emulator"]

START_TIMEOUT = 30.0
_MAX_LINE = 4096


@asynccontextmanager
async def spawned_emulator(*, start_timeout: float = START_TIMEOUT) -> AsyncIterator[str]:
    """Start the emulator child; yield its base URL; stop it when the block ends."""
    async with child_process("bridge.bench.emulator_process") as process:
        assert process.stdout is not None
        try:
            with anyio.fail_after(start_timeout):
                base_url = await Lines(process.stdout, _MAX_LINE).next() or ""
        except TimeoutError as exc:
            raise BenchError(
                f"the emulator process did not start within {start_timeout:g} s"
            ) from exc
        except anyio.DelimiterNotFound as exc:
            raise BenchError("the emulator process did not start: no base URL") from exc
        if not base_url.startswith("http://"):
            raise BenchError(f"the emulator process did not start: {base_url!r}")
        yield base_url.strip()


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
