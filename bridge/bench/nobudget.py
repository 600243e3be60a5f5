"""No client-side rate budget: what the DingTalk client of a *plain* peer runs with.

The production ``DingTalkClient`` takes every call through a ``RateBudget``. The peers
the benchmark runs plain stand for connectors that have no client-side budget at all:
their calls go out as their pacing rule decides, DingTalk refuses the excess with 403
``QpsLimit…``, and each refused request waits out its own hint and tries again.

A ``RateBudget`` merely too large to ever wait no longer models that: since
``RateBudget.back_off``, one rate-limit answer pauses the whole lane, so every other
call of the process waits too, a client-side throttle those connectors do not have.
``NoBudget`` never waits for a slot, and ``back_off`` pauses only the caller that was
refused (its retry waits out the hint; the others carry on), which is what the
client's retry did before the shared pause existed.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

import anyio

from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.operations import Operation

__all__ = ["UNBUDGETED_QPS", "NoBudget"]

#: The nominal rate of ``NoBudget`` (its ``interval`` is about a microsecond).
UNBUDGETED_QPS = 1_000_000.0

#: Until when the calling task's own rate-limited retry must wait (``NoBudget`` clock).
_own_pause: ContextVar[float] = ContextVar("bench_own_pause", default=-math.inf)


class NoBudget(RateBudget):
    """A ``RateBudget`` that never makes a call wait for another (see the module)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(UNBUDGETED_QPS, clock=clock)
        self._now = clock

    async def acquire(self, app: str, operation: Operation, *, urgent: bool = False) -> None:
        """Nothing to wait for but the caller's own rate-limit pause."""
        await self._own_wait()

    @asynccontextmanager
    async def slot(
        self, app: str, operation: Operation, *, urgent: bool = False
    ) -> AsyncIterator[None]:
        """Nothing to wait for but the caller's own rate-limit pause."""
        await self._own_wait()
        yield

    def back_off(self, app: str, operation: Operation, seconds: float) -> None:
        """Pause the refused caller alone (the task that is retrying), not the lane."""
        _own_pause.set(max(_own_pause.get(), self._now() + seconds))

    async def _own_wait(self) -> None:
        wait = _own_pause.get() - self._now()
        if wait > 0:
            await anyio.sleep(wait)
