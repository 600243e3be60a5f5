"""Child processes of the benchmark: start one, read its lines, stop it on every path.

The benchmark runs two kinds of child, both ``python -m <module>`` of this interpreter:
``emulator_process`` (the emulated DingTalk and model, for the whole run) and
``phase_process`` (the bridge side of one measured phase). Each talks to the parent
through its standard streams: what the parent has to say on stdin, one message per line
on stdout, and stderr straight through to the parent's stderr (warnings show as they
happen).

``child_process`` is the async context manager that owns one child: it stops the child
when the block ends, on every path (closing its stdin, which asks it to finish; then
terminating and finally killing it, each step bounded and the whole shielded).
``Lines`` reads a child's stdout one line at a time.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import ByteReceiveStream, Process
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["STOP_TIMEOUT", "Lines", "child_process"]

log = logging.getLogger(__name__)

#: How long a child may take to stop once asked, before it is killed.
STOP_TIMEOUT = 10.0


@asynccontextmanager
async def child_process(
    module: str, *args: str, stop_timeout: float = STOP_TIMEOUT
) -> AsyncIterator[Process]:
    """Run ``python -m module *args``; yield the process; stop it when the block ends."""
    process = await anyio.open_process(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,  # the child's warnings show on our stderr
    )
    try:
        yield process
    finally:
        with anyio.move_on_after(stop_timeout, shield=True):
            await _stop(process, stop_timeout)
        if process.returncode is None:
            log.warning("the child %s (pid %d) did not stop; killing it", module, process.pid)
            process.kill()


async def _stop(process: Process, allowed: float) -> None:
    """End of stdin asks the child to stop; terminate, then kill, if it does not."""
    if process.stdin is not None:
        await process.stdin.aclose()
    for escalate in (process.terminate, process.kill):
        with anyio.move_on_after(allowed / 3):
            await process.wait()
        if process.returncode is not None:
            break
        escalate()
    await process.wait()
    if process.stdout is not None:
        await process.stdout.aclose()


class Lines:
    """A child's stdout, one line at a time (without its newline, decoded as UTF-8)."""

    def __init__(self, stream: ByteReceiveStream, max_bytes: int = 2**26) -> None:
        self._stream = BufferedByteReceiveStream(stream)
        self._max_bytes = max_bytes

    async def next(self) -> str | None:
        """The next line; ``None`` once the child closed its stdout (a partial line is lost).

        A line longer than ``max_bytes`` raises ``anyio.DelimiterNotFound``.
        """
        try:
            line = await self._stream.receive_until(b"\n", self._max_bytes)
        except anyio.IncompleteRead:
            return None
        return line.decode("utf-8", "replace")
