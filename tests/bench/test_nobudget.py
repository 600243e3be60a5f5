"""Tests for bridge.bench.nobudget: a plain peer's client waits for nobody else."""

from __future__ import annotations

import time

import anyio
import pytest

from bridge.bench.nobudget import UNBUDGETED_QPS, NoBudget
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.operations import Operation

pytestmark = pytest.mark.anyio

REPLY = Operation.AI_REPLY


async def _other_caller_waits(budget: RateBudget) -> bool:
    """One task is refused (back_off 60 s); does another task's call then wait?"""
    refused = anyio.Event()

    async def refused_caller() -> None:
        budget.back_off("app", REPLY, 60.0)
        refused.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(refused_caller)
        await refused.wait()
        with anyio.move_on_after(1.0) as scope:
            async with budget.slot("app", REPLY):
                pass
        tg.cancel_scope.cancel()
    return scope.cancelled_caught


async def test_a_huge_rate_budget_still_pauses_everyone_after_a_rate_limit() -> None:
    """Why NoBudget exists: back_off on a budget too large to wait holds every caller."""
    assert await _other_caller_waits(RateBudget(UNBUDGETED_QPS))


async def test_no_budget_pauses_nobody_else() -> None:
    """A rate-limit answer to one caller leaves every other caller's calls untouched."""
    assert not await _other_caller_waits(NoBudget())


async def test_the_refused_caller_waits_out_its_own_pause() -> None:
    """The task that was refused waits its hint before its next call (its retry)."""
    budget = NoBudget()
    started = time.monotonic()
    budget.back_off("app", REPLY, 0.05)
    async with budget.slot("app", REPLY):
        waited = time.monotonic() - started
    await budget.acquire("app", REPLY)  # the pause is over: no second wait
    assert waited >= 0.05
    assert time.monotonic() - started < 1.0
