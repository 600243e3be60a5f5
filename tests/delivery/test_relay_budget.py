"""Tests for bridge.delivery.relay under the rate budget: a budget share spacing the
updates or holding a reply to one send, rate-limited closes against the per-call bound
and the reply's deadline, and waiting one-shots served oldest reply first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

import anyio
import pytest

from bridge.core.events import End, LLMEvent, TextDelta
from bridge.delivery.relay import HELD_READ_PAUSE, relay
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.operations import Operation
from bridge.errors import PlatformRateLimited
from bridge.llm.reads import current_pause
from tests.delivery.relay_fakes import FakeSurface, source
from tests.delivery.relay_options import FULL, OPTIONS, WIDE_WINDOW, WORDS

pytestmark = pytest.mark.anyio


async def test_a_tight_budget_spaces_the_updates() -> None:
    """A budget share longer than the reply (but under oneshot_pressure) leaves room for
    one update before the close."""
    surface = FakeSurface("ai_reply")
    result = await relay(source(WORDS, gap=0.01), [surface], OPTIONS, budget_interval=lambda: 9.0)
    assert surface.kinds().count("update") <= 1
    assert surface.calls[-1] == ("close", FULL)
    assert result.ok


#: A per-call bound well under the 20 refusals × 20 ms a rate-limited close waits out.
SHORT_BOUND = OPTIONS.model_copy(update={"close_timeout": 0.2})


async def test_a_rate_limited_close_outlasts_its_bound_within_the_deadline() -> None:
    """A close refused 20 times (more than attempts, longer than its bound) still closes."""
    surface = FakeSurface("ai_card", close_refusals=20)
    errors: list[Exception] = []
    result = await relay(
        source(WORDS, gap=0.01),
        [surface],
        SHORT_BOUND,
        on_surface_error=lambda s, e: errors.append(e),
        deadline=60.0,
    )
    assert errors == []
    assert surface.calls[-1] == ("close", FULL)
    assert (result.ok, result.closes) == (True, 1)


async def test_without_a_deadline_a_rate_limited_close_has_its_attempts_only() -> None:
    """No deadline (the benchmark, tools): rate limits count against attempts as before."""
    surface = FakeSurface("ai_card", close_refusals=20)
    errors: list[Exception] = []
    result = await relay(
        source(WORDS, gap=0.01),
        [surface],
        SHORT_BOUND,
        on_surface_error=lambda s, e: errors.append(e),
    )
    assert [type(e) for e in errors] == [PlatformRateLimited]
    assert (result.ok, result.closes) == (False, 0)


async def test_cancelling_a_close_waiting_out_a_rate_limit_bounds_it_again() -> None:
    """Shutdown during a close waiting for a 60 s deadline: it gets its own bound, no more."""
    surface = FakeSurface("ai_card", close_refusals=None)  # refused for good
    errors: list[Exception] = []
    outcome: list[str] = []

    async def relayed() -> None:
        try:
            result = await relay(
                source(WORDS, gap=0.01),
                [surface],
                SHORT_BOUND,
                on_surface_error=lambda s, e: errors.append(e),
                deadline=60.0,
            )
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise
        # The close ran shielded to its end; the reply may return before a checkpoint.
        outcome.append("ok" if result.ok else "undelivered")

    async with anyio.create_task_group() as tg:
        tg.start_soon(relayed)
        await surface.closing.wait()
        tg.cancel_scope.cancel()
    assert outcome in (["cancelled"], ["undelivered"])
    assert surface.kinds().count("close") == 1
    assert len(errors) == 1
    assert isinstance(errors[0], PlatformRateLimited | TimeoutError)


async def test_under_budget_pressure_a_long_answer_is_one_send_once() -> None:
    """A budget share over oneshot_pressure: no open, no update, the whole answer once."""
    surface = FakeSurface("ai_reply")
    result = await relay(source(WORDS, gap=0.01), [surface], OPTIONS, budget_interval=lambda: 60.0)
    assert surface.calls == [("send_once", FULL)]
    assert (result.ok, result.opens, result.updates, result.send_once) == (True, 0, 0, 1)


async def test_when_the_pressure_falls_the_held_reply_streams() -> None:
    """Held while the share is high; once it falls, the reply opens and streams."""
    surface = FakeSurface("ai_reply")
    shares = iter([60.0] * 20)
    result = await relay(
        source(WORDS, gap=0.01), [surface], OPTIONS, budget_interval=lambda: next(shares, 0.0)
    )
    assert surface.kinds()[0] == "open"
    assert surface.calls[-1] == ("close", FULL)
    assert result.opens == 1


async def pauses_seen(share: float) -> list[float]:
    """The read pause the model's stream would take at each of its events, for a reply
    relayed under a budget share of ``share``."""
    seen: list[float] = []

    async def recording() -> AsyncIterator[LLMEvent]:
        async for event in source(WORDS, gap=0.01):
            seen.append(current_pause()())
            yield event

    await relay(recording(), [FakeSurface("ai_reply")], OPTIONS, budget_interval=lambda: share)
    return seen


async def test_a_held_reply_reads_its_stream_in_batches() -> None:
    """Held for one send, the stream pauses between reads (its text shows at the end);
    streaming, it never does."""
    assert set(await pauses_seen(60.0)) == {HELD_READ_PAUSE}
    assert set(await pauses_seen(0.0)) == {0.0}


@dataclass
class BudgetedSurface(FakeSurface):
    """A FakeSurface whose one-shot sends wait for an urgent slot of a real budget."""

    budget: RateBudget = field(default_factory=RateBudget)
    served: list[str] = field(default_factory=list)

    async def send_once(self, text: str) -> None:
        async with self.budget.slot("app", Operation.AI_SEND, urgent=True):
            self.served.append(text)


async def test_waiting_one_shots_go_oldest_reply_first() -> None:
    """The older reply's one-shot, queued last, is served before a younger reply's."""
    budget = RateBudget(100, window=0.01, margin=0.0)
    surface = BudgetedSurface("ai_reply", budget=budget)
    release, old_may_end = anyio.Event(), anyio.Event()

    async def holder() -> None:
        async with budget.slot("app", Operation.AI_SEND):
            await release.wait()

    async def old_source() -> AsyncIterator[LLMEvent]:
        yield TextDelta("old")
        await old_may_end.wait()
        yield End("stop")

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(
            partial(relay, old_source(), [surface], OPTIONS, budget_interval=lambda: 60.0)
        )
        await anyio.sleep(0.05)  # the old reply has run 50 ms when the young one starts
        tg.start_soon(partial(relay, source(["young"]), [surface], WIDE_WINDOW))
        await anyio.wait_all_tasks_blocked()
        old_may_end.set()
        await anyio.wait_all_tasks_blocked()
        assert budget.waiting("app", Operation.AI_SEND) == 2  # young queued first
        release.set()
    assert surface.served == ["old", "young"]
