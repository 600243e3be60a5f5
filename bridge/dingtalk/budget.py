"""The process-wide rate budget: at most ``qps`` calls per app and API, served in order.

DingTalk allows 20 calls per second per app per API (§2) and answers 403 ``QpsLimit…``
beyond that, counted by its own clock over a sliding one-second window. Every caller
of one app shares one ``RateBudget``, so a thousand live messages cannot exceed it
together, and waiters are served first come, first served: nobody starves.

How the bound holds whatever the network does: a call *holds a slot* from just before
it is sent until ``window`` (plus a small margin) after its answer arrived. DingTalk
saw the call at some instant between those two, so every call it counts in any window
ending at ``T`` still holds its slot at ``T``; with at most ``limit`` slots there can
never be more than ``limit`` calls in one window, even when answers are slow or
requests bunch up on the way. The sustained rate is ``limit / (window + round trip)``.

When DingTalk still answers with a rate limit (another process on the same app, the
platform-wide ``QpsLimitForApi``), ``back_off`` pauses the lane: nobody calls it again
before the server's hint (or about a second) has passed, so a rate-limit window is
waited out by the queue as a whole instead of hammered by each caller's retries.

Urgent calls (a close, a one-shot answer) go before the others, and among themselves
**oldest reply first**: a call made inside ``reply_started`` (the relay enters it for
each reply) queues by when its reply started, not when the call arrived. When a
thousand answers wait for their one call, the conversation that has waited longest is
served next, and a young reply can never push an old one back; calls outside a reply
queue by arrival.

``SlotWindow`` is the pure bookkeeping (a fake clock tests it); ``RateBudget`` adds
waiting, fairness and one window per (app, operation). The pacing layer reads
``interval`` and ``waiting`` to stretch its update interval instead of queueing.

``Budget`` is what the DingTalk client and the pacing need of a budget. ``RateBudget``
is the one for a single process (SQLite or memory state); several instances on one Redis
share ``bridge.dingtalk.shared_budget.SharedBudget``, which keeps the same promises
across processes (``open_budget`` there picks one from the configuration).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from bridge.dingtalk.operations import Operation
from bridge.observe.hooks import UNOBSERVED, BudgetObserver

__all__ = [
    "DEFAULT_MARGIN",
    "Budget",
    "RateBudget",
    "SlotWindow",
    "limit_and_hold",
    "reply_age",
    "reply_started",
]

#: Slack added to the window: clock granularity and the server's own rounding.
DEFAULT_MARGIN = 0.05


class Budget(Protocol):
    """A rate budget per (app, operation), as the DingTalk client and the pacing use it."""

    def slot(
        self, app: str, operation: Operation, *, urgent: bool = False
    ) -> AbstractAsyncContextManager[None]:
        """Around one call: wait for a slot (urgent calls first, oldest reply first; the
        rest first come, first served) and hold it until the call returns."""
        ...

    def back_off(self, app: str, operation: Operation, seconds: float) -> None:
        """DingTalk answered the lane with a rate limit: start none of its calls for
        ``seconds``."""
        ...

    def interval(self, app: str, operation: Operation) -> float:
        """Seconds between calls of the lane at the sustained rate this process may use."""
        ...

    def waiting(self, app: str, operation: Operation) -> int:
        """Callers of this process queued for the lane right now."""
        ...


def limit_and_hold(qps: float, window: float, margin: float) -> tuple[int, float]:
    """Slots per window for ``qps``, and how long a finished call holds its slot.

    Below one call per window the hold stretches so that the average rate still holds.
    """
    if qps <= 0 or window <= 0 or margin < 0:
        raise ValueError("qps and window must be positive, margin not negative")
    limit = max(1, math.floor(qps * window + 1e-9))
    return limit, max(window, limit / qps) + margin


class SlotWindow:
    """At most ``limit`` calls in flight or finished less than ``hold`` seconds ago."""

    def __init__(self, limit: int, hold: float) -> None:
        if limit < 1 or hold <= 0:
            raise ValueError("limit must be ≥ 1 and hold > 0")
        self.limit = limit
        self.hold = hold
        self.active = 0
        self._cooling: deque[float] = deque()  # when each finished call frees its slot
        self.paused_until = float("-inf")

    def _prune(self, now: float) -> None:
        while self._cooling and self._cooling[0] <= now:
            self._cooling.popleft()

    def used(self, now: float) -> int:
        """Slots taken at ``now``: calls in flight plus calls still cooling down."""
        self._prune(now)
        return self.active + len(self._cooling)

    def free_at(self, now: float) -> float | None:
        """When the next call may start: ``now`` if a slot is free and no pause holds,
        ``None`` if only an in-flight call can free one (its end is unknown)."""
        if self.used(now) < self.limit:
            free = now
        elif self._cooling:
            free = self._cooling[0]
        else:
            return None
        return max(free, self.paused_until)

    def pause(self, until: float) -> None:
        """Start no call before ``until`` (a rate-limit answer); pauses only lengthen."""
        self.paused_until = max(self.paused_until, until)

    def take(self, now: float) -> None:
        """Start a call at ``now``; the caller checked that a slot is free."""
        if self.used(now) >= self.limit or now < self.paused_until:
            raise RuntimeError("no free slot")
        self.active += 1

    def finish(self, now: float) -> None:
        """End a call at ``now``; its slot frees ``hold`` seconds later."""
        if self.active < 1:
            raise RuntimeError("finish without take")
        self.active -= 1
        # Finish times only grow, so the deque stays sorted.
        self._cooling.append(max(now + self.hold, self._cooling[-1] if self._cooling else 0.0))


#: How old the reply making the current call is (seconds), while ``reply_started`` holds.
_reply_age: ContextVar[Callable[[], float] | None] = ContextVar("bridge_reply_age", default=None)


@contextmanager
def reply_started(clock: Callable[[], float]) -> Iterator[None]:
    """Inside, urgent calls queue by when the block was entered: the reply's start.

    ``clock`` is the caller's own; only the age it measures crosses to the budget, so
    the two clocks need not agree. Context variables follow the task (and are copied
    into its child tasks), so every call the reply makes is covered.
    """
    started = clock()
    token = _reply_age.set(lambda: clock() - started)
    try:
        yield
    finally:
        _reply_age.reset(token)


def reply_age() -> float:
    """Seconds since the reply making the current call started (0 outside a reply)."""
    age = _reply_age.get()
    return age() if age is not None else 0.0


@dataclass(order=True)
class _Ticket:
    """An urgent caller's place: its reply's start (budget clock), then arrival order.

    ``turn`` is set when the ticket becomes the head of the queue: only the head watches
    the window, so a release wakes one waiter, not a thousand.
    """

    started: float
    arrival: int
    turn: anyio.Event = field(default_factory=anyio.Event, compare=False)


class _Lane:
    """The budget of one (app, operation): its window, its queues and a change signal.

    Two queues: urgent calls (those that finish a message or deliver one whole), oldest
    reply first (a heap of ``_Ticket``), and the rest, first come first served (anyio's
    Lock hands over in FIFO order). A normal caller at the head of its queue still steps
    aside while an urgent one waits: an intermediate update can always wait or be
    skipped, a message's close cannot.
    """

    def __init__(self, window: SlotWindow) -> None:
        self.window = window
        self.lock = anyio.Lock()
        self.urgent: list[_Ticket] = []
        self.arrivals = itertools.count()
        self.changed = anyio.Event()
        self.waiting = 0

    def signal(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def queue(self, ticket: _Ticket) -> None:
        heapq.heappush(self.urgent, ticket)
        if self.urgent[0] is ticket:
            self.signal()  # a displaced head must step back

    def leave(self, ticket: _Ticket) -> None:
        """Take ``ticket`` out of the urgent queue (granted or cancelled); wake the next."""
        if self.urgent and self.urgent[0] is ticket:
            heapq.heappop(self.urgent)
        else:
            self.urgent.remove(ticket)
            heapq.heapify(self.urgent)
        if self.urgent:
            self.urgent[0].turn.set()
        self.signal()  # a normal caller may have stood aside for this one


class Permit:
    """One granted call, released (idempotently) when its answer is in or it failed."""

    def __init__(self, lane: _Lane, clock: Callable[[], float]) -> None:
        self._lane = lane
        self._clock = clock
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._lane.window.finish(self._clock())
        self._lane.signal()


class RateBudget:
    """A rate budget per (app client id, operation), shared by every caller in a process.

    ``qps`` is DingTalk's limit (``DingTalkConfig.qps_per_api``); ``window`` its counting
    window in seconds (1.0; tests may shrink it to run faster). ``observer`` hears how
    long each granted call waited for its slot.
    """

    def __init__(
        self,
        qps: float = 20.0,
        *,
        window: float = 1.0,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        observer: BudgetObserver = UNOBSERVED,
    ) -> None:
        self._limit, self._hold = limit_and_hold(qps, window, margin)
        self._clock = clock
        self._observer = observer
        self._lanes: dict[tuple[str, Operation], _Lane] = {}

    @property
    def limit(self) -> int:
        """Calls allowed per window and lane."""
        return self._limit

    def _lane(self, app: str, operation: Operation) -> _Lane:
        key = (app, operation)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(SlotWindow(self._limit, self._hold))
        return lane

    async def acquire(self, app: str, operation: Operation, *, urgent: bool = False) -> None:
        """Wait for a slot (first come, first served) and spend it on a call made now.

        The slot frees one window later. This suits a caller that cannot report when its
        call was answered; around a real call prefer ``slot``, which also covers the
        round trip (the guarantee described above).
        """
        (await self._take(app, operation, urgent)).release()

    @asynccontextmanager
    async def slot(
        self, app: str, operation: Operation, *, urgent: bool = False
    ) -> AsyncIterator[None]:
        """``async with budget.slot(app, op):`` around one call, held until it returns.

        ``urgent`` calls (a message's close, a one-shot answer) are served before the
        others waiting on the same lane, oldest reply first (``reply_started``).
        """
        permit = await self._take(app, operation, urgent)
        try:
            yield
        finally:
            permit.release()

    async def _take(self, app: str, operation: Operation, urgent: bool) -> Permit:
        lane = self._lane(app, operation)
        lane.waiting += 1
        asked = self._clock()
        try:
            if urgent:
                await self._take_urgent(lane)
            else:
                async with lane.lock:
                    await self._take_when(lane, lambda: not lane.urgent)
        finally:
            lane.waiting -= 1
        self._observer.waited(operation, self._clock() - asked)
        return Permit(lane, self._clock)

    async def _take_urgent(self, lane: _Lane) -> None:
        started = self._clock() - reply_age()
        ticket = _Ticket(started, next(lane.arrivals))
        lane.queue(ticket)
        try:
            while lane.urgent[0] is not ticket:
                if ticket.turn.is_set():  # was the head, then an older reply came
                    ticket.turn = anyio.Event()
                await ticket.turn.wait()
            # Displaced while waiting here, it waits for the lane's signals until it is
            # the head again (rare: only an older reply's call displaces it).
            await self._take_when(lane, lambda: lane.urgent[0] is ticket)
        finally:
            lane.leave(ticket)

    async def _take_when(self, lane: _Lane, my_turn: Callable[[], bool]) -> None:
        """Wait until ``my_turn()`` and a free slot, then take the slot."""
        while True:
            now = self._clock()
            free_at = lane.window.free_at(now)
            turn = my_turn()
            if turn and free_at is not None and free_at <= now:
                lane.window.take(now)
                return
            changed = lane.changed
            if free_at is None or not turn:
                await changed.wait()
            else:
                with anyio.move_on_after(free_at - now):
                    await changed.wait()

    def back_off(self, app: str, operation: Operation, seconds: float) -> None:
        """Hold every call of the lane for ``seconds``: DingTalk answered it with a rate
        limit. Callers already queued wait too, in their order; none is refused."""
        lane = self._lane(app, operation)
        lane.window.pause(self._clock() + seconds)
        lane.signal()

    def interval(self, app: str, operation: Operation) -> float:
        """Seconds between calls of one lane at the sustained rate (round trip aside)."""
        return self._hold / self._limit

    def waiting(self, app: str, operation: Operation) -> int:
        """Callers queued for the lane right now; the pacing layer backs off when > 0."""
        lane = self._lanes.get((app, operation))
        return lane.waiting if lane is not None else 0

    def in_use(self, app: str, operation: Operation) -> int:
        """Slots of the lane taken right now (in flight or cooling down)."""
        lane = self._lanes.get((app, operation))
        return lane.window.used(self._clock()) if lane is not None else 0
