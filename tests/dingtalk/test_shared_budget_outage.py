"""SharedBudget when Redis is away: no hang, a local share of the limit, and the way back.

Each test runs a ``redis-server`` of its own, so it can be killed and started again, or
stands in for a server that accepts connections and never answers.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from bridge.dingtalk.operations import Operation
from bridge.dingtalk.shared_budget import SharedBudget
from bridge.state.redis_budget import RedisLedger
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio

UPDATE = Operation.AI_UPDATE
PREFIX = "sbo:"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    own = RedisServer(tmp_path / "redis")
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as opened:
        yield opened


async def test_without_redis_each_instance_keeps_to_its_share_then_reports_back(
    server: RedisServer, stack: AsyncExitStack, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis killed: calls go on at limit ÷ 3 instances (no window holds more), with one
    warning; once Redis is back the ledger is used again and learns the fallback's slots."""
    budgets = []
    for _ in range(3):
        ledger = await stack.enter_async_context(
            RedisLedger(server.url, prefix=PREFIX, timeout=0.5)
        )
        budgets.append(SharedBudget(ledger, 30, timeout=0.5, retry_after=0.0))
    for budget in [*budgets, budgets[0]]:  # the last exchange of ``a`` sees all three
        async with budget.slot("app", UPDATE):
            pass
    a = budgets[0]
    server.stop(kill=True)

    grants: list[float] = []

    async def caller() -> None:
        async with a.slot("app", UPDATE):
            grants.append(time.monotonic())

    with caplog.at_level(logging.WARNING), anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(caller)
    assert a.stats.outages == 1
    assert a.stats.fallback_granted == 12
    grants.sort()
    assert all(grants[i + 10] - grants[i] >= 1.0 for i in range(len(grants) - 10))
    assert a.interval("app", UPDATE) == pytest.approx(1.05 / 10)
    warned = [r.message for r in caplog.records if "unreachable" in r.message]
    assert len(warned) == 1, warned

    server.start()
    granted = a.stats.granted
    with caplog.at_level(logging.WARNING), anyio.fail_after(10):
        async with a.slot("app", UPDATE):
            pass
    assert a.stats.granted == granted + 1, "the ledger serves again"
    assert any("reachable again" in r.message for r in caplog.records)
    raw = Redis.from_url(server.url, decode_responses=True)
    stack.push_async_callback(raw.aclose)
    slots = await raw.zrange(f"{PREFIX}budget:app:{UPDATE.value}:slots", 0, -1)
    assert len(slots) >= 3, "the fallback's cooling slots were reported, and this one"


async def test_a_redis_that_never_answers_does_not_hang_a_call(stack: AsyncExitStack) -> None:
    """A server that accepts connections and stays silent: the call times out on the
    ledger and goes through the fallback, in about the ledger's timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        ledger = await stack.enter_async_context(RedisLedger(url, prefix=PREFIX, timeout=0.3))
        budget = SharedBudget(ledger, 20, timeout=0.3)
        with anyio.fail_after(5):
            async with budget.slot("app", UPDATE):
                pass
            async with budget.slot("app", UPDATE):  # within retry_after: no second wait
                pass
    assert budget.stats.fallback_granted == 2
    assert budget.stats.round_trips == 1
