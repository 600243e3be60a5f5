"""How the LLM source reads a streamed answer: paced reads, and closing it for reuse.

``paced_reads(pause)`` lets a caller have the streams its task opens pause between two
reads of the model's answer: the relay does so for a reply that budget pressure holds
for one send (``bridge.delivery.relay``), whose text shows only at the end. httpx2 hands
a stream over one HTTP chunk at a time, however many a socket read brought, so the
source pauses only after a read that had to wait for the network (``WaitProbe``) and
then takes everything that arrived meanwhile at once. ``finish_response`` closes a
response, first reading the last bytes of a complete one so its connection is reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import anyio
import httpx2

__all__ = [
    "DRAIN_TIMEOUT",
    "WaitProbe",
    "current_pause",
    "finish_response",
    "paced_reads",
]

#: How long the last bytes after ``[DONE]`` are waited for, to keep the connection.
DRAIN_TIMEOUT = 0.1


async def finish_response(
    response: httpx2.Response, reads: AsyncIterator[bytes] | None, *, drain: bool
) -> None:
    """Close the response. After a complete answer (``drain``) its last bytes are read
    first, briefly, so that the connection goes back to the pool instead of being
    dropped; a stopped or failed answer is closed at once."""
    try:
        if reads is not None and drain:
            with anyio.move_on_after(DRAIN_TIMEOUT):
                async for _ in reads:
                    pass
    except httpx2.HTTPError:
        pass  # the answer is complete; a connection that fails now is simply not reused
    finally:
        if reads is not None:
            await reads.aclose()  # type: ignore[attr-defined]
        await response.aclose()


@contextmanager
def paced_reads(pause: Callable[[], float]) -> Iterator[None]:
    """Inside, a stream opened by this task waits ``pause()`` seconds between two reads
    of the model's answer (0: it reads as bytes arrive).

    The relay pauses the reads of a reply that budget pressure holds for one send: its
    text shows only at the end, and reading a thousand such streams a chunk at a time
    kept the event loop too busy to send the replies that were ready. The pause never
    counts against the idle timeout. Context variables follow the task, as the stream
    is read by the task that entered this block.
    """
    token = _read_pause.set(pause)
    try:
        yield
    finally:
        _read_pause.reset(token)


class WaitProbe:
    """Whether an await had to wait for I/O, i.e. gave the event loop a turn.

    A callback queued just before the await runs only once the task yields to the loop
    (``call_soon`` callbacks run between the steps of tasks, never inside one): an await
    served from buffered bytes leaves it queued, a read that waited for the network lets
    it run. httpx2 hands a stream over one HTTP chunk at a time, however many a socket
    read brought, so its iterator alone cannot tell the two apart.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._turns = 0

    def _turn(self) -> None:
        self._turns += 1

    def arm(self) -> int:
        """Before the await: the mark to compare with."""
        self._loop.call_soon(self._turn)
        return self._turns

    def waited(self, armed: int) -> bool:
        """After the await: did the loop turn meanwhile?"""
        return self._turns != armed


def current_pause() -> Callable[[], float]:
    """The pause function of this task (``paced_reads``); one that answers 0 outside."""
    return _read_pause.get()


def _no_pause() -> float:
    return 0.0


_read_pause: ContextVar[Callable[[], float]] = ContextVar("bridge_read_pause", default=_no_pause)
