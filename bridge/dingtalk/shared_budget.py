"""The rate budget every instance on one Redis shares: ``SharedBudget``.

DingTalk counts 20 calls per second per app and API, whichever process makes them.
With several ``bridge serve`` on one Redis each keeping its own ``RateBudget`` they
would spend 20 each; ``SharedBudget`` keeps their sum under ``qps_per_api`` with the
local budget's promises (``bridge.dingtalk.budget``), its books kept in a ``Ledger``
(``bridge.state.redis_budget``, one Lua script per exchange):

- **Slots held across the round trip.** A call takes a slot in the ledger just before
  it is sent and reports its answer after; the slot counts until ``hold`` after the
  answer. A slot whose answer never comes (the instance died mid-call) counts until
  ``flight`` (the call timeout plus ``hold``) after its grant, so a crash never leaks
  capacity for longer than that.
- **Fairness across instances.** Each waiting caller has a ticket in the lane's queue
  in the ledger: urgent ones (closes, one-shots) first, oldest reply first
  (``reply_started``), then the others in arrival order. A ticket is granted when fewer
  live tickets are ahead of it than there are free slots. An instance's tickets are
  live while it asked within ``lease``: a dead instance's expire.
- **A shared pause.** ``back_off`` pauses the lane in the ledger for every instance
  (sent with this process's next exchange on the lane, at once).
- **No hot polling.** Inside a process only the caller first in line (in the ledger's
  order) asks the ledger again; the others wait for their turn on a local event. The
  ledger answers a waiting ticket with the least time before it can be granted (the
  pause, or when enough slots free), and the first in line sleeps that long (at most
  ``lease / 4``, which keeps its tickets alive). Round trips per call: one to take a
  free slot, one to report the answer, and about one more per wait.

**When the ledger is away** (Redis unreachable, or slower than its timeout) a call
never hangs on it and never goes out unbudgeted: the budget falls back to a local
``RateBudget`` of ``qps_per_api`` ÷ the instances seen using the budget in the last
minute, logs a warning, and tries the ledger again ``retry_after`` seconds later. The
fallback's slots, and the answers the ledger missed, are reported to it when it is back,
so the others see them. The one exposure: in the second after Redis returns, an instance
still on its fallback share and one already back on the ledger may briefly exceed the
limit together by up to that share.

``open_budget(config)`` picks the budget: shared when ``[serve] state`` is Redis, else
a ``RateBudget``.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass, replace

import anyio

from bridge.config import Config
from bridge.dingtalk.budget import DEFAULT_MARGIN, Budget, RateBudget, limit_and_hold, reply_age
from bridge.dingtalk.budget_line import Line, Pending, Waiter
from bridge.dingtalk.ledger import Answer, Ledger, Terms, Ticket
from bridge.dingtalk.operations import Operation
from bridge.errors import StateError
from bridge.observe.hooks import UNOBSERVED, BudgetObserver
from bridge.state.redis import is_redis_url
from bridge.state.redis_budget import RedisLedger

__all__ = ["BudgetStats", "SharedBudget", "open_budget", "shared_budget"]

log = logging.getLogger(__name__)

#: Seconds an instance's use of the budget counts towards the fallback share.
MEMBER_TTL = 60.0


@dataclass
class BudgetStats:
    """What the shared budget did: ledger round trips, grants, fallback grants, outages."""

    round_trips: int = 0
    granted: int = 0
    fallback_granted: int = 0
    outages: int = 0


class _Away(Exception):
    """The ledger could not be reached: use the fallback."""


class SharedBudget:
    """``Budget`` kept in a ``Ledger`` shared by every instance (see the module).

    ``qps``, ``window`` and ``margin`` as ``RateBudget``'s; ``call_timeout`` is the
    longest a call may take (``[dingtalk] timeout``), which bounds how long a slot whose
    answer is never reported counts. ``lease``: how long a silent instance's tickets
    stay queued. ``timeout``: the longest an exchange may take before the ledger counts
    as away; ``retry_after``: how long the fallback then serves before the ledger is
    asked again.
    """

    def __init__(
        self,
        ledger: Ledger,
        qps: float = 20.0,
        *,
        window: float = 1.0,
        margin: float = DEFAULT_MARGIN,
        call_timeout: float = 10.0,
        lease: float = 2.0,
        timeout: float = 2.0,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        observer: BudgetObserver = UNOBSERVED,
    ) -> None:
        limit, hold = limit_and_hold(qps, window, margin)
        self._ledger = ledger
        self._qps, self._window, self._margin = qps, window, margin
        self._terms = Terms(
            limit=limit,
            hold=hold,
            flight=call_timeout + hold + 1.0,
            lease=lease,
            active_window=2 * hold,
            member_ttl=MEMBER_TTL,
        )
        self._timeout = timeout
        self._retry_after = retry_after
        self._poll_max = lease / 4
        self._clock = clock
        self._observer = observer
        self.holder = uuid.uuid4().hex
        self._counter = itertools.count()
        self._lanes: dict[tuple[str, Operation], Line] = {}
        self._active = 1  # instances sharing the rate, as of the last exchange
        self._members = 1  # instances that used the budget within MEMBER_TTL
        self._down_since: float | None = None
        self._retry_at = float("-inf")
        self._fallback: RateBudget | None = None
        self.stats = BudgetStats()

    @property
    def limit(self) -> int:
        """Calls allowed per window and lane, all instances together."""
        return self._terms.limit

    def _lane(self, app: str, operation: Operation) -> Line:
        lane = self._lanes.get((app, operation))
        if lane is None:
            lane = self._lanes[(app, operation)] = Line(app, operation)
        return lane

    # ---------------------------------------------------------------- the Budget protocol

    @asynccontextmanager
    async def slot(
        self, app: str, operation: Operation, *, urgent: bool = False
    ) -> AsyncIterator[None]:
        """``async with budget.slot(app, op):`` around one call, held until it returns."""
        lane = self._lane(app, operation)
        asked = self._clock()
        lane.waiting += 1
        try:
            slot = None if self._away() else await self._take(lane, urgent)
        finally:
            lane.waiting -= 1
        if slot is None:
            async with self._fallback_slot(lane, urgent):
                self._observer.waited(operation, self._clock() - asked)
                yield
            return
        self.stats.granted += 1
        self._observer.waited(operation, self._clock() - asked)
        try:
            yield
        finally:
            lane.carries[slot] = Pending(self._clock(), known=True)
            await self._report(lane)

    def back_off(self, app: str, operation: Operation, seconds: float) -> None:
        """Pause the lane for every instance: DingTalk answered it with a rate limit."""
        self._lane(app, operation).pause(self._clock() + seconds)
        if self._fallback is not None:
            self._fallback.back_off(app, operation, seconds)

    def interval(self, app: str, operation: Operation) -> float:
        """This instance's share: the lane's interval times the instances calling now."""
        if self._fallback is not None and self._away():
            return self._fallback.interval(app, operation)
        return self._terms.hold / self._terms.limit * max(1, self._active)

    def waiting(self, app: str, operation: Operation) -> int:
        """Callers of this process queued for the lane (on the ledger or the fallback)."""
        lane = self._lanes.get((app, operation))
        fallback = self._fallback.waiting(app, operation) if self._fallback else 0
        return (lane.waiting if lane is not None else 0) + fallback

    # ---------------------------------------------------------------- the shared path

    async def _take(self, lane: Line, urgent: bool) -> str | None:
        """Queue a ticket and wait for its grant; ``None``: the ledger is away."""
        ticket = Ticket(f"{self.holder}|{next(self._counter):012d}", urgent, reply_age())
        granted = doubt = False
        try:
            doubt = True
            answer = await self._exchange(lane, ticket)
            doubt = False
            if answer.granted:
                granted = True
                return ticket.id
            waiter = Waiter(replace(ticket, score=answer.score), self._clock() + answer.wait)
            lane.join(waiter)
            try:
                while True:
                    if not await self._my_turn(lane, waiter):
                        continue
                    if self._away():
                        return None
                    doubt = True
                    answer = await self._exchange(lane, waiter.ticket)
                    doubt = False
                    if answer.granted:
                        granted = True
                        return ticket.id
                    waiter.not_before = self._clock() + answer.wait
            finally:
                lane.leave(waiter)
        except _Away:
            return None
        finally:
            if not granted:
                lane.drops.add(ticket.id)
                if doubt:  # the grant may have happened, its answer lost
                    lane.carries[ticket.id] = Pending(self._clock(), known=True)
                await self._report(lane)

    async def _my_turn(self, lane: Line, waiter: Waiter) -> bool:
        """Wait to be first in line, then until ``not_before`` (at most ``lease / 4``) or
        a change of the lane; True when it is time to ask the ledger again."""
        while lane.head is not waiter:
            if waiter.turn.is_set():  # was first, then an older reply came
                waiter.turn = anyio.Event()
            await waiter.turn.wait()
        changed = lane.changed
        delay = min(waiter.not_before - self._clock(), self._poll_max)
        if delay > 0:
            with anyio.move_on_after(delay + random.uniform(0, 0.002)):
                await changed.wait()
        return lane.head is waiter

    async def _report(self, lane: Line) -> None:
        """Tell the ledger what it must learn of ``lane`` now (shielded, bounded); if it is
        away, the lane's next exchange carries it."""
        if self._away() or not lane.owes():
            return
        with anyio.move_on_after(self._timeout, shield=True):
            with suppress(_Away):
                await self._exchange(lane, None)

    async def _exchange(self, lane: Line, ticket: Ticket | None) -> Answer:
        """One round trip: what ``lane`` owes the ledger, and ``ticket``'s request."""
        request, sent = lane.request(self.holder, self._terms, ticket, self._clock())
        self.stats.round_trips += 1
        try:
            with anyio.fail_after(3 * self._timeout):
                answer = await self._ledger.exchange(lane.app, lane.operation.value, request)
        except (StateError, TimeoutError) as exc:
            self._trip(exc)
            raise _Away from exc
        lane.settle(sent)
        self._active, self._members = answer.active, answer.members
        if self._down_since is not None:
            await self._recover(lane)
        return answer

    # ---------------------------------------------------------------- the ledger away

    def _away(self) -> bool:
        return self._down_since is not None and self._clock() < self._retry_at

    def _trip(self, error: BaseException) -> None:
        now = self._clock()
        self._retry_at = now + self._retry_after
        if self._down_since is not None:
            return
        self._down_since = now
        self.stats.outages += 1
        share = self._qps / max(1, self._members)
        log.warning(
            "the shared rate budget is unreachable (%s); until it is back this instance "
            "keeps to %.3g calls/s per API (%g shared by %d instances)",
            error,
            share,
            self._qps,
            max(1, self._members),
        )
        if self._fallback is None:
            self._fallback = RateBudget(
                share, window=self._window, margin=self._margin, clock=self._clock
            )
            for lane in self._lanes.values():
                if lane.paused_until > now:
                    self._fallback.back_off(lane.app, lane.operation, lane.paused_until - now)

    async def _recover(self, reached: Line) -> None:
        """The ledger answers again: report every lane's slots, then use it again."""
        outage = self._clock() - (self._down_since or 0.0)
        self._down_since = None
        for lane in list(self._lanes.values()):
            if lane is not reached and lane.owes():
                await self._report(lane)
        if self._down_since is None:
            log.warning("the shared rate budget is reachable again after %.1f s", outage)
            self._fallback = None

    @asynccontextmanager
    async def _fallback_slot(self, lane: Line, urgent: bool) -> AsyncIterator[None]:
        """A slot of the local fallback, reported to the ledger once it is back."""
        fallback = self._fallback
        if fallback is None:  # the ledger came back meanwhile: a one-off local share
            fallback = RateBudget(self._qps / max(1, self._members), clock=self._clock)
        async with fallback.slot(lane.app, lane.operation, urgent=urgent):
            slot = f"{self.holder}|{next(self._counter):012d}"
            lane.carries[slot] = Pending(None, known=False)
            self.stats.fallback_granted += 1
            try:
                yield
            finally:
                # Still unsent: the ledger learns of it as a finished slot; else it knows it.
                known = slot not in lane.carries
                lane.carries[slot] = Pending(self._clock(), known=known)
                await self._report(lane)


def open_budget(
    config: Config, observer: BudgetObserver = UNOBSERVED
) -> AbstractAsyncContextManager[Budget]:
    """The budget ``config`` calls for, to be entered with ``async with``: shared on the
    Redis of ``[serve] state``, else a ``RateBudget`` of this process."""
    dingtalk, serve = config.dingtalk, config.serve
    if not is_redis_url(serve.state):
        return nullcontext(RateBudget(dingtalk.qps_per_api, observer=observer))
    return shared_budget(
        serve.state,
        prefix=serve.state_prefix,
        qps=dingtalk.qps_per_api,
        call_timeout=dingtalk.timeout,
        observer=observer,
    )


@asynccontextmanager
async def shared_budget(
    url: str,
    *,
    prefix: str,
    qps: float,
    call_timeout: float,
    observer: BudgetObserver = UNOBSERVED,
) -> AsyncIterator[SharedBudget]:
    """A ``SharedBudget`` on the Redis at ``url`` (keys under ``prefix``), its connections
    closed when the block ends. ``open_budget`` and the benchmark's instances use it."""
    async with RedisLedger(url, prefix=prefix) as ledger:
        yield SharedBudget(ledger, qps, call_timeout=call_timeout, observer=observer)
