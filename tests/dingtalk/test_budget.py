"""Tests for bridge.dingtalk.budget: the slot window bound, FIFO service, lanes."""

from __future__ import annotations

import heapq
import time

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dingtalk.budget import RateBudget, SlotWindow, reply_started
from bridge.dingtalk.operations import Operation

UPDATE = Operation.AI_UPDATE


def test_window_grants_limit_then_waits_for_cooldown() -> None:
    """limit calls pass at once; the next waits until the first finished call cools down."""
    window = SlotWindow(limit=2, hold=1.0)
    window.take(0.0)
    window.take(0.0)
    assert window.free_at(0.0) is None  # both in flight: only a finish can free a slot
    window.finish(0.2)
    assert window.free_at(0.3) == pytest.approx(1.2)
    assert window.free_at(1.2) == 1.2
    window.take(1.2)
    assert window.used(1.2) == 2


def test_a_paused_window_grants_nothing_until_the_pause_ends() -> None:
    """pause() holds even a free window until then; a shorter pause never shortens it."""
    window = SlotWindow(limit=2, hold=1.0)
    window.pause(5.0)
    window.pause(3.0)
    assert window.free_at(0.0) == 5.0
    with pytest.raises(RuntimeError):
        window.take(4.9)
    window.take(5.0)
    window.take(5.0)
    window.finish(5.5)
    assert window.free_at(5.5) == pytest.approx(6.5)  # then the slots rule again


def test_window_refuses_take_without_free_slot() -> None:
    """take() on a full window and finish() without take() are programming errors."""
    window = SlotWindow(limit=1, hold=1.0)
    window.take(0.0)
    with pytest.raises(RuntimeError):
        window.take(0.0)
    window.finish(0.0)
    with pytest.raises(RuntimeError):
        window.finish(0.0)


def _server_max_per_second(arrivals: list[float]) -> int:
    arrivals.sort()
    best, start = 0, 0
    for end, at in enumerate(arrivals):
        while arrivals[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@settings(max_examples=200, deadline=None)
@given(
    qps=st.integers(min_value=1, max_value=25),
    calls=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=0.3),  # gap before the caller asks
            st.floats(min_value=0.001, max_value=1.5),  # round trip
            st.floats(min_value=0, max_value=1),  # where in the round trip the server counts it
        ),
        min_size=1,
        max_size=120,
    ),
)
def test_server_window_never_exceeds_qps(qps: int, calls: list[tuple[float, float, float]]) -> None:
    """Whatever the round trips, no 1-second server window counts more than qps calls."""
    budget = RateBudget(qps)
    window = SlotWindow(budget.limit, 1.0 + 0.05)
    finishes: list[float] = []  # heap of in-flight end times
    asked, granted, arrivals = 0.0, 0.0, []
    for gap, rtt, fraction in calls:
        asked += gap
        now = max(asked, granted)  # FIFO: nobody is served before an earlier caller
        while True:
            while finishes and finishes[0] <= now:
                window.finish(heapq.heappop(finishes))
            free_at = window.free_at(now)
            if free_at is not None and free_at <= now:
                break
            now = free_at if free_at is not None else finishes[0]
            if finishes and finishes[0] < now:
                now = finishes[0]
        window.take(now)
        granted = now
        heapq.heappush(finishes, now + rtt)
        arrivals.append(now + fraction * rtt)
    assert _server_max_per_second(arrivals) <= qps


def test_limit_and_interval_follow_qps() -> None:
    """20 QPS gives 20 slots per window and an interval just over 1/20 s."""
    budget = RateBudget(20)
    assert budget.limit == 20
    assert budget.interval("app", UPDATE) == pytest.approx(1.05 / 20)
    slow = RateBudget(0.5)
    assert slow.limit == 1
    assert slow.interval("app", UPDATE) == pytest.approx(2.05)
    with pytest.raises(ValueError, match="positive"):
        RateBudget(0)


@pytest.mark.anyio
async def test_waiters_are_served_first_come_first_served() -> None:
    """With one slot, 20 queued callers are granted in the order they asked."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    order: list[int] = []

    async def caller(index: int) -> None:
        async with budget.slot("app", UPDATE):
            order.append(index)

    release = anyio.Event()

    async def holder() -> None:
        async with budget.slot("app", UPDATE):
            await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        for index in range(20):
            tg.start_soon(caller, index)
            await anyio.wait_all_tasks_blocked()
        assert budget.waiting("app", UPDATE) == 20
        release.set()
    assert order == list(range(20))
    assert budget.waiting("app", UPDATE) == 0


@pytest.mark.anyio
async def test_urgent_callers_go_first_in_their_own_order() -> None:
    """Closes queued after updates are served before them, first come first served."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    order: list[str] = []

    async def caller(name: str, urgent: bool) -> None:
        async with budget.slot("app", UPDATE, urgent=urgent):
            order.append(name)

    release = anyio.Event()

    async def holder() -> None:
        async with budget.slot("app", UPDATE):
            await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        for name, urgent in [("u1", False), ("u2", False), ("c1", True), ("u3", False)]:
            tg.start_soon(caller, name, urgent)
            await anyio.wait_all_tasks_blocked()
        tg.start_soon(caller, "c2", True)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert order == ["c1", "c2", "u1", "u2", "u3"]
    assert budget.waiting("app", UPDATE) == 0


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_acquire_spends_a_slot_for_one_window() -> None:
    """acquire() needs no release: its slot stays taken for one window, then frees itself."""
    clock = FakeClock()
    budget = RateBudget(200, window=0.01, margin=0.0, clock=clock)
    assert budget.limit == 2
    await budget.acquire("app", UPDATE)
    await budget.acquire("app", UPDATE)
    assert budget.in_use("app", UPDATE) == 2  # both spent, cooling down
    granted = anyio.Event()

    async def third() -> None:
        await budget.acquire("app", UPDATE)
        granted.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(third)
        await anyio.wait_all_tasks_blocked()
        assert not granted.is_set(), "a third call within the window must wait"
        assert budget.waiting("app", UPDATE) == 1
        clock.now += 0.01  # the window passes: both slots free
    assert granted.is_set()
    assert budget.in_use("app", UPDATE) == 1  # the third one's slot, cooling now
    assert budget.waiting("app", UPDATE) == 0


@pytest.mark.anyio
async def test_real_time_grants_stay_within_the_window() -> None:
    """60 calls at limit 5 per 0.1 s: no 0.1 s span ever holds more than 5 grants."""
    budget = RateBudget(50, window=0.1, margin=0.005)
    assert budget.limit == 5
    grants: list[float] = []

    async def caller() -> None:
        async with budget.slot("app", UPDATE):
            grants.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        for _ in range(60):
            tg.start_soon(caller)
    grants.sort()
    assert len(grants) == 60
    for index in range(len(grants) - 5):
        assert grants[index + 5] - grants[index] >= 0.1


@pytest.mark.anyio
async def test_lanes_are_independent() -> None:
    """A full lane (app, operation) does not hold up another app or operation."""
    budget = RateBudget(1, window=60)
    await budget.acquire("app", UPDATE)
    with anyio.fail_after(5):
        async with budget.slot("other-app", UPDATE):
            pass
        await budget.acquire("app", Operation.AI_FINISH)
    assert budget.in_use("app", UPDATE) == 1  # spent, cooling down for the window
    assert budget.in_use("app", Operation.AI_FINISH) == 1
    assert budget.in_use("nobody", UPDATE) == 0


@pytest.mark.anyio
async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    """Cancelling a queued caller does not block the ones behind it."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    served: list[str] = []
    release = anyio.Event()

    async def holder() -> None:
        async with budget.slot("app", UPDATE):
            await release.wait()

    async def caller(name: str) -> None:
        async with budget.slot("app", UPDATE):
            served.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        async with anyio.create_task_group() as doomed:
            doomed.start_soon(caller, "cancelled")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(caller, "next")
            await anyio.wait_all_tasks_blocked()
            doomed.cancel_scope.cancel()
        assert budget.waiting("app", UPDATE) == 1
        release.set()
    assert served == ["next"]


@pytest.mark.anyio
async def test_back_off_holds_the_lane_then_serves_it_in_order() -> None:
    """After a rate-limit answer the lane's callers wait the pause out, then go in order."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    order: list[int] = []
    grants: list[float] = []

    async def caller(index: int) -> None:
        async with budget.slot("app", UPDATE):
            order.append(index)
            grants.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        resumes = time.monotonic() + 0.05
        budget.back_off("app", UPDATE, 0.05)
        for index in range(5):
            tg.start_soon(caller, index)
            await anyio.wait_all_tasks_blocked()
    assert order == list(range(5))
    assert min(grants) >= resumes  # nobody went before the pause ended


@pytest.mark.anyio
async def test_back_off_holds_only_its_own_lane() -> None:
    """A paused lane does not hold up another operation of the same app."""
    budget = RateBudget(20)
    budget.back_off("app", UPDATE, 60.0)
    served = anyio.Event()

    async def paused_caller() -> None:
        async with budget.slot("app", UPDATE):
            served.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(paused_caller)
        async with budget.slot("app", Operation.AI_FINISH):
            pass
        await anyio.wait_all_tasks_blocked()
        assert not served.is_set()
        assert budget.waiting("app", UPDATE) == 1
        tg.cancel_scope.cancel()


class ReplyClock:
    """A reply's own clock, on which the reply started ``age`` seconds ago: it reads 0
    when ``reply_started`` is entered and ``age`` ever after."""

    def __init__(self, age: float) -> None:
        self.age = age
        self.value = 0.0

    def __call__(self) -> float:
        value, self.value = self.value, self.age
        return value


async def _urgent_order(budget: RateBudget, callers: list[tuple[str, float | None]]) -> list[str]:
    """Queue ``callers`` (name, reply age or None: no reply) as urgent behind a held
    slot, in list order; release the slot and return the order they were served in."""
    order: list[str] = []
    release = anyio.Event()

    async def holder() -> None:
        async with budget.slot("app", UPDATE):
            await release.wait()

    async def caller(name: str, age: float | None) -> None:
        if age is None:
            async with budget.slot("app", UPDATE, urgent=True):
                order.append(name)
            return
        with reply_started(ReplyClock(age)):
            async with budget.slot("app", UPDATE, urgent=True):
                order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        for name, age in callers:
            tg.start_soon(caller, name, age)
            await anyio.wait_all_tasks_blocked()
        release.set()
    return order


@pytest.mark.anyio
async def test_urgent_callers_are_served_oldest_reply_first() -> None:
    """Among waiting one-shots and closes, the reply that started first goes first."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    order = await _urgent_order(
        budget, [("young", 10.0), ("oldest", 100.0), ("middle", 50.0), ("old", 80.0)]
    )
    assert order == ["oldest", "old", "middle", "young"]
    assert budget.waiting("app", UPDATE) == 0


@pytest.mark.anyio
async def test_calls_outside_a_reply_queue_by_arrival_among_replies() -> None:
    """A call outside any reply counts as a reply starting when it arrives."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    order = await _urgent_order(budget, [("now", None), ("replied", 1.0), ("ago", 500.0)])
    assert order == ["ago", "replied", "now"]


@pytest.mark.anyio
async def test_an_older_reply_displaces_the_head_waiting_for_a_slot() -> None:
    """The head of the urgent queue, waiting on a full window, steps back for an older reply."""
    clock = FakeClock()
    budget = RateBudget(100, window=0.01, margin=0.0, clock=clock)
    await budget.acquire("app", UPDATE)  # the only slot, cooling until +0.01
    order: list[str] = []
    first = anyio.Event()

    async def caller(name: str, age: float) -> None:
        with reply_started(ReplyClock(age)):
            async with budget.slot("app", UPDATE, urgent=True):
                order.append(name)
                first.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller, "young", 1.0)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(caller, "old", 60.0)
        await anyio.wait_all_tasks_blocked()
        assert order == []
        clock.now += 0.01  # one slot frees; the head learns it when its timer fires
        with anyio.fail_after(5):
            await first.wait()
        assert order == ["old"]  # the fake clock stands still: "young" cannot go yet
        clock.now += 0.01
    assert order == ["old", "young"]


@pytest.mark.anyio
async def test_a_cancelled_urgent_waiter_leaves_the_queue() -> None:
    """Cancelling a queued urgent caller (head or not) lets the next ones through."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    served: list[str] = []
    release = anyio.Event()

    async def holder() -> None:
        async with budget.slot("app", UPDATE):
            await release.wait()

    async def caller(name: str, age: float) -> None:
        with reply_started(ReplyClock(age)):
            async with budget.slot("app", UPDATE, urgent=True):
                served.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        async with anyio.create_task_group() as doomed:
            doomed.start_soon(caller, "head", 900.0)
            doomed.start_soon(caller, "middle", 500.0)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(caller, "next", 100.0)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(caller, "older", 950.0)
            await anyio.wait_all_tasks_blocked()
            doomed.cancel_scope.cancel()
        assert budget.waiting("app", UPDATE) == 2
        release.set()
    assert served == ["older", "next"]


@settings(max_examples=25, deadline=None)  # each example takes real time: ~0.3 s
@given(callers=st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=1, max_size=12))
def test_urgent_oldest_first_then_normal_in_arrival_order(
    callers: list[tuple[bool, int]],
) -> None:
    """Any mix queued behind a held slot: urgent calls oldest reply first (ties in
    arrival order), then the normal ones first come first served."""
    budget = RateBudget(1000, window=0.001, margin=0.0)  # one slot per millisecond
    order: list[int] = []
    release_holder: list[anyio.Event] = []

    async def holder() -> None:
        release_holder.append(anyio.Event())
        async with budget.slot("app", UPDATE):
            await release_holder[0].wait()

    async def caller(index: int, urgent: bool, age: int) -> None:
        with reply_started(ReplyClock(float(age))):
            async with budget.slot("app", UPDATE, urgent=urgent):
                order.append(index)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(holder)
            await anyio.wait_all_tasks_blocked()
            for index, (urgent, age) in enumerate(callers):
                tg.start_soon(caller, index, urgent, age)
                await anyio.wait_all_tasks_blocked()
            release_holder[0].set()

    anyio.run(main)
    urgent = sorted((-age, i) for i, (u, age) in enumerate(callers) if u)
    normal = [i for i, (u, _) in enumerate(callers) if not u]
    assert order == [i for _, i in urgent] + normal
