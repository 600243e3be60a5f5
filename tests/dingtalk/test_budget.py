"""Tests for bridge.dingtalk.budget: the slot window bound, acquire(), lanes, back-off.

The queue's order (first come first served, urgent and oldest reply first) is in
test_budget_order.py.
"""

from __future__ import annotations

import heapq
import time

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dingtalk.budget import RateBudget, SlotWindow
from bridge.dingtalk.operations import Operation
from tests.dingtalk.budgets import UPDATE, FakeClock


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
