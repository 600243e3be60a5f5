"""Tests for bridge.dingtalk.budget's queue order: first come first served, urgent
callers first and oldest reply first among them, and cancelled waiters leaving the queue.

The window bound, acquire(), lanes and back-off are in test_budget.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import TypeVar

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dingtalk.budget import RateBudget, reply_started
from tests.dingtalk.budgets import UPDATE, FakeClock, ReplyClock

T = TypeVar("T")


@pytest.mark.anyio
async def test_waiters_are_served_first_come_first_served() -> None:
    """With one slot, 20 queued callers are granted in the order they asked."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    order, queued = await served_order(budget, [(index, False, None) for index in range(20)])
    assert queued == 20
    assert order == list(range(20))
    assert budget.waiting("app", UPDATE) == 0


@pytest.mark.anyio
async def test_urgent_callers_go_first_in_their_own_order() -> None:
    """Closes queued after updates are served before them, first come first served."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    callers = [("u1", False), ("u2", False), ("c1", True), ("u3", False), ("c2", True)]
    order, _ = await served_order(budget, [(name, urgent, None) for name, urgent in callers])
    assert order == ["c1", "c2", "u1", "u2", "u3"]
    assert budget.waiting("app", UPDATE) == 0


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


async def served_order(
    budget: RateBudget, callers: Sequence[tuple[T, bool, float | None]]
) -> tuple[list[T], int]:
    """Queue ``callers`` (name, urgent, the age of its reply or None: no reply) behind
    the one held slot, in list order, then release it: the order they were served in,
    and how many waited just before the release."""
    order: list[T] = []
    release = anyio.Event()

    async def holder() -> None:
        async with budget.slot("app", UPDATE):
            await release.wait()

    async def caller(name: T, urgent: bool, age: float | None) -> None:
        with reply_started(ReplyClock(age)) if age is not None else nullcontext():
            async with budget.slot("app", UPDATE, urgent=urgent):
                order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        for name, urgent, age in callers:
            tg.start_soon(caller, name, urgent, age)
            await anyio.wait_all_tasks_blocked()
        queued = budget.waiting("app", UPDATE)
        release.set()
    return order, queued


@pytest.mark.anyio
async def test_urgent_callers_are_served_oldest_reply_first() -> None:
    """Among waiting one-shots and closes, the reply that started first goes first."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    ages = [("young", 10.0), ("oldest", 100.0), ("middle", 50.0), ("old", 80.0)]
    order, _ = await served_order(budget, [(name, True, age) for name, age in ages])
    assert order == ["oldest", "old", "middle", "young"]
    assert budget.waiting("app", UPDATE) == 0


@pytest.mark.anyio
async def test_calls_outside_a_reply_queue_by_arrival_among_replies() -> None:
    """A call outside any reply counts as a reply starting when it arrives."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    ages: list[tuple[str, float | None]] = [("now", None), ("replied", 1.0), ("ago", 500.0)]
    order, _ = await served_order(budget, [(name, True, age) for name, age in ages])
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
    queue = [(index, urgent, float(age)) for index, (urgent, age) in enumerate(callers)]
    order, _ = anyio.run(served_order, budget, queue)
    urgent = sorted((-age, i) for i, (u, age) in enumerate(callers) if u)
    normal = [i for i, (u, _) in enumerate(callers) if not u]
    assert order == [i for _, i in urgent] + normal
