"""SharedBudget on a real Redis: several budgets (= instances) keep one limit together.

Each ``SharedBudget`` here has its own ``RedisLedger`` (its own connections), as each
``bridge serve`` would; they share one ``redis-server``. Grants and answers are recorded
in the ledger's clock (``RecordingLedger``), and the checks count calls, not durations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from anyio.abc import TaskGroup, TaskStatus
from redis.asyncio import Redis

from bridge.config import Config
from bridge.dingtalk.budget import RateBudget, reply_started
from bridge.dingtalk.ledger import Request, Terms, Ticket
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.shared_budget import SharedBudget, open_budget
from bridge.state.redis_budget import RedisLedger
from tests.dingtalk.budgets import UPDATE, ReplyClock
from tests.dingtalk.ledgers import RecordingLedger, most_in_a_window
from tests.serve.conftest import bridge_settings

pytestmark = pytest.mark.anyio

PREFIX = "sb:"


class Fleet:
    """Budgets of separate "instances" on one Redis, each with its recording ledger."""

    def __init__(self, budgets: list[SharedBudget], ledgers: list[RecordingLedger]) -> None:
        self.budgets = budgets
        self.ledgers = ledgers

    def calls(self) -> list[tuple[float, float]]:
        return [call for ledger in self.ledgers for call in ledger.calls()]

    def order(self) -> list[tuple[float, str]]:
        """Every grant of every budget: (ledger time, slot id), in time order."""
        return sorted((t, s) for ledger in self.ledgers for s, t in ledger.granted.items())


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as opened:
        yield opened


async def fleet(stack: AsyncExitStack, url: str, size: int, qps: float, **options: float) -> Fleet:
    """``size`` budgets on ``url``, each with a ledger of its own."""
    budgets, ledgers = [], []
    for _ in range(size):
        ledger = await stack.enter_async_context(RedisLedger(url, prefix=PREFIX))
        recording = RecordingLedger(ledger)
        budgets.append(SharedBudget(recording, qps, **options))
        ledgers.append(recording)
    return Fleet(budgets, ledgers)


async def test_three_instances_keep_one_limit_in_every_window(
    redis_url: str, stack: AsyncExitStack
) -> None:
    """90 calls from 3 budgets at limit 5 per 0.1 s: no window counts more than 5."""
    three = await fleet(stack, redis_url, 3, 50, window=0.1, margin=0.01)
    assert three.budgets[0].limit == 5

    async def caller(budget: SharedBudget, index: int) -> None:
        async with budget.slot("app", UPDATE):
            if index % 4 == 0:
                await anyio.sleep(0.03)  # a slow answer holds its slot longer

    async with anyio.create_task_group() as tg:
        for index in range(90):
            tg.start_soon(caller, three.budgets[index % 3], index)
    calls = three.calls()
    assert len(calls) == 90
    assert most_in_a_window(calls, 0.1) <= 5
    assert all(ledger.granted for ledger in three.ledgers), "every instance was served"
    trips = sum(b.stats.round_trips for b in three.budgets)
    assert trips <= 5 * 90, f"{trips} round trips for 90 calls"


async def _hold(tg: TaskGroup, budget: SharedBudget, release: anyio.Event) -> None:
    """Take the lane's slot in a task of ``tg`` until ``release``; return once it is taken."""

    async def held(*, task_status: TaskStatus[None]) -> None:
        async with budget.slot("app", UPDATE):
            task_status.started()
            await release.wait()

    await tg.start(held)


async def test_waiters_of_all_instances_are_served_in_arrival_order(
    redis_url: str, stack: AsyncExitStack
) -> None:
    """One slot: 12 callers queued round-robin on three budgets are granted as they came."""
    three = await fleet(stack, redis_url, 3, 100, window=0.01, margin=0.0)
    assert three.budgets[0].limit == 1
    order: list[int] = []
    release = anyio.Event()

    async def caller(index: int) -> None:
        async with three.budgets[index % 3].slot("app", UPDATE):
            order.append(index)

    async with anyio.create_task_group() as tg:
        await _hold(tg, three.budgets[0], release)
        for index in range(12):
            tg.start_soon(caller, index)
            ledger = three.ledgers[index % 3]
            await ledger.until_queued(index // 3 + 1)
        assert [b.waiting("app", UPDATE) for b in three.budgets] == [4, 4, 4]
        release.set()
    assert order == list(range(12))


async def test_urgent_calls_of_any_instance_go_first_oldest_reply_first(
    redis_url: str, stack: AsyncExitStack
) -> None:
    """Updates and closes queued on three budgets: closes first by reply age, then updates."""
    three = await fleet(stack, redis_url, 3, 100, window=0.01, margin=0.0)
    callers = [("n1", None), ("n2", None), ("young", 1.0), ("n3", None), ("old", 100.0)]
    callers += [("middle", 50.0)]
    order: list[str] = []
    release = anyio.Event()

    async def caller(budget: SharedBudget, name: str, age: float | None) -> None:
        if age is None:
            async with budget.slot("app", UPDATE):
                order.append(name)
            return
        with reply_started(ReplyClock(age)):
            async with budget.slot("app", UPDATE, urgent=True):
                order.append(name)

    async with anyio.create_task_group() as tg:
        await _hold(tg, three.budgets[0], release)
        queued = [0, 0, 0]
        for index, (name, age) in enumerate(callers):
            tg.start_soon(caller, three.budgets[index % 3], name, age)
            queued[index % 3] += 1
            await three.ledgers[index % 3].until_queued(queued[index % 3])
        release.set()
    assert order == ["old", "middle", "young", "n1", "n2", "n3"]


def _terms(limit: int, *, flight: float, lease: float) -> Terms:
    return Terms(limit, hold=0.05, flight=flight, lease=lease, active_window=1, member_ttl=60)


async def test_a_dead_instances_slots_and_tickets_expire(
    redis_url: str, stack: AsyncExitStack
) -> None:
    """An instance that took every slot and queued a ticket, then died: its slots count
    until their flight lease, its ticket until its lease; then the living are served."""
    one = await fleet(stack, redis_url, 1, 20, window=0.05, margin=0.0, lease=0.5)
    (budget,) = one.budgets
    assert budget.limit == 1
    dead = await stack.enter_async_context(RedisLedger(redis_url, prefix=PREFIX))
    terms = _terms(1, flight=0.6, lease=0.5)
    taken = Request("dead", terms, ticket=Ticket(f"dead|{0:012d}", urgent=False))
    took = await dead.exchange("app", UPDATE.value, taken)
    assert took.granted
    stuck = Request("dead", terms, ticket=Ticket(f"dead|{1:012d}", urgent=True))
    queued = await dead.exchange("app", UPDATE.value, stuck)
    assert not queued.granted
    raw = Redis.from_url(redis_url, decode_responses=True)
    stack.push_async_callback(raw.aclose)
    lane = f"{PREFIX}budget:app:{UPDATE.value}"
    assert await raw.zcard(f"{lane}:slots") == 1

    with anyio.fail_after(5):
        async with budget.slot("app", UPDATE):
            slots = await raw.zrange(f"{lane}:slots", 0, -1)
    assert not any(s.startswith("dead|") for s in slots), "the dead slots expired"
    (granted,) = one.ledgers[0].granted.values()
    assert granted >= took.at + 0.6, "the dead call's slot counted until its flight lease"
    assert granted >= queued.at + 0.5, "the dead ticket stayed ahead until its lease"
    assert await raw.zcard(f"{lane}:urgent") == 0, "the dead ticket was dropped"


async def test_back_off_seen_by_one_instance_pauses_the_lane_for_all(
    redis_url: str, stack: AsyncExitStack
) -> None:
    """A rate-limit answer on budget A: B's next call waits the pause out too."""
    pair = await fleet(stack, redis_url, 2, 100, window=0.01, margin=0.0)
    a, b = pair.budgets

    async def call(budget: SharedBudget) -> None:
        async with budget.slot("app", UPDATE):
            pass

    a.back_off("app", UPDATE, 0.3)
    async with anyio.create_task_group() as tg:
        tg.start_soon(call, a)  # the refused call's retry: it tells the ledger, and waits
        await pair.ledgers[0].until_queued(1)
        tg.start_soon(call, b)
        await pair.ledgers[1].until_queued(1)
    (paused_until,) = pair.ledgers[0].paused_until
    (granted_a,) = pair.ledgers[0].granted.values()
    (granted_b,) = pair.ledgers[1].granted.values()
    assert paused_until <= granted_a <= granted_b
    other = Operation.AI_FINISH
    async with b.slot("app", other):  # another lane is not paused
        pass


async def test_a_cancelled_waiter_leaves_the_shared_queue(
    redis_url: str, stack: AsyncExitStack
) -> None:
    """A queued caller cancelled on A does not hold up B's caller behind it."""
    pair = await fleet(stack, redis_url, 2, 100, window=0.01, margin=0.0)
    a, b = pair.budgets
    served: list[str] = []
    release = anyio.Event()

    async def caller(budget: SharedBudget, name: str) -> None:
        async with budget.slot("app", UPDATE):
            served.append(name)

    async with anyio.create_task_group() as tg:
        await _hold(tg, a, release)
        async with anyio.create_task_group() as doomed:
            doomed.start_soon(caller, a, "cancelled")
            await pair.ledgers[0].until_queued(1)
            tg.start_soon(caller, b, "next")
            await pair.ledgers[1].until_queued(1)
            doomed.cancel_scope.cancel()
        release.set()
    assert served == ["next"]


async def test_the_interval_is_shared_by_the_instances_calling(
    redis_url: str, stack: AsyncExitStack
) -> None:
    """Two budgets calling: each one's pacing interval is twice a lone one's."""
    pair = await fleet(stack, redis_url, 2, 20)
    a, b = pair.budgets
    async with a.slot("app", UPDATE):
        pass
    alone = a.interval("app", UPDATE)
    assert alone == pytest.approx(1.05 / 20)
    async with b.slot("app", UPDATE):
        pass
    async with a.slot("app", UPDATE):
        pass
    assert a.interval("app", UPDATE) == pytest.approx(2 * alone)


async def test_open_budget_shares_on_redis_and_stays_local_otherwise(
    redis_url: str, tmp_path: Path
) -> None:
    """``[serve] state`` on Redis: a SharedBudget there with ``qps_per_api``, its slots
    under ``state_prefix``; a SQLite file: this process's RateBudget."""
    base = "http://127.0.0.1:9"
    local = Config.model_validate(bridge_settings(base, tmp_path / "state.sqlite3"))
    async with open_budget(local) as budget:
        assert type(budget) is RateBudget
    shared = Config.model_validate(
        bridge_settings(
            base,
            tmp_path / "unused",
            serve={"state": redis_url, "state_prefix": "ob:"},
            dingtalk={"qps_per_api": 10},
        )
    )
    async with open_budget(shared) as budget:
        assert isinstance(budget, SharedBudget)
        assert budget.limit == 10
        async with budget.slot("app", UPDATE):
            pass
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await client.zcard("ob:budget:members") == 1
    finally:
        await client.aclose()
