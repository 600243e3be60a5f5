"""The pipeline with in-memory seams: dedup, order, the journal and its bounds, prompts.

Replay of what a gone process journaled, and an unreachable store, are in
test_pipeline_recovery.py; the shared fakes are in tests/pipeline_fakes.py.
"""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.admission import Outcome
from bridge.errors import (
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformRejected,
    PlatformUnavailable,
    SessionExpired,
)
from bridge.pipeline import IntakeLimits, surface_is_broken
from bridge.state import MemoryStore, Store
from bridge.turn import ReplyHandles, Turn
from tests.pipeline_fakes import FAST, LOST, Clock, Recorder, pipeline, turn


async def journaled_texts(store: Store) -> list[str]:
    return [Turn.from_json(e.payload).text for e in await store.journaled()]


# ---------------------------------------------------------------- dedup and order


@pytest.mark.anyio
async def test_redelivery_gets_no_second_answer() -> None:
    """The same msgId under a new frame id is a duplicate: one answer."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        first = await p.accept(turn("hi", ids=("msg:1", "frame:a")))
        again = await p.accept(turn("hi", ids=("msg:1", "frame:b")))
        assert await p.drain(10)
    assert (first.outcome, again.outcome) == (Outcome.ACCEPTED, Outcome.DUPLICATE)
    assert recorder.shown == ["re: hi"]
    assert (p.stats.answered, p.stats.duplicates) == (1, 1)


@pytest.mark.anyio
async def test_a_waiting_turn_stays_a_duplicate_past_the_dedup_ttl() -> None:
    """A redelivery long after dedup_ttl, while the Turn still waits, is still a duplicate."""
    gate, clock, store = anyio.Event(), Clock(), MemoryStore()
    recorder = Recorder(gate=gate)
    async with pipeline(recorder, store=store, clock=clock) as p:
        assert (await p.accept(turn("slow", ids=("msg:1",)))).outcome is Outcome.ACCEPTED
        clock.now += 3600.0  # dedup_ttl is 60 s
        assert (await p.accept(turn("slow", ids=("msg:1",)))).outcome is Outcome.DUPLICATE
        gate.set()
        assert await p.drain(10)
    assert recorder.shown == ["re: slow"]


@pytest.mark.anyio
async def test_turns_of_one_conversation_are_answered_in_order() -> None:
    """Turns of one conversation queue and are answered one at a time, in order."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        for n in range(5):
            await p.accept(turn(f"q{n}"))
        assert await p.drain(10)
    assert recorder.shown == [f"re: q{n}" for n in range(5)]
    assert recorder.most_running == 1


@pytest.mark.anyio
async def test_conversations_run_in_parallel() -> None:
    """Different conversations stream at the same time."""
    gate = anyio.Event()
    recorder = Recorder(gate=gate, expect_running=3)
    async with pipeline(recorder) as p:
        for n in range(3):
            await p.accept(turn("q", conversation=f"c{n}"))
        with anyio.fail_after(5):
            await recorder.reached.wait()  # all three are streaming at once
        gate.set()
        assert await p.drain(10)
    assert len(recorder.shown) == 3


@pytest.mark.anyio
async def test_counts_say_what_runs_and_what_waits() -> None:
    """Past the concurrency limit, Turns count as queued; all of them as journaled."""
    gate = anyio.Event()
    recorder = Recorder(gate=gate, expect_running=2)
    async with pipeline(recorder, max_concurrent=2) as p:
        for n in range(5):
            await p.accept(turn("q", conversation=f"c{n}"))
        await p.accept(turn("q2", conversation="c0"))
        with anyio.fail_after(5):
            await recorder.reached.wait()
        assert (p.stats.running, p.stats.queued, p.stats.journaled) == (2, 4, 6)
        gate.set()
        assert await p.drain(10)
    assert (p.stats.running, p.stats.queued, p.stats.journaled) == (0, 0, 0)


# ---------------------------------------------------------------- the journal and bounds


@pytest.mark.anyio
async def test_accepted_turns_are_journaled_until_answered() -> None:
    """ACCEPTED means journaled, in arrival order; an answered Turn leaves the journal."""
    gate, store = anyio.Event(), MemoryStore()
    async with pipeline(Recorder(gate=gate), store=store) as p:
        for text, conversation in [("a1", "c1"), ("b1", "c2"), ("a2", "c1")]:
            assert (await p.accept(turn(text, conversation=conversation))).taken
        assert await journaled_texts(store) == ["a1", "b1", "a2"]
        gate.set()
        assert await p.drain(10)
    assert await store.journaled() == []


@pytest.mark.anyio
async def test_busy_past_the_conversation_bound_and_nothing_recorded() -> None:
    """Past per_conversation waiting Turns: BUSY with retry_after, and it can come back."""
    gate, store = anyio.Event(), MemoryStore()
    recorder = Recorder(gate=gate)
    limits = IntakeLimits(per_conversation=2, retry_after=7.0, lost_notice=LOST)
    async with pipeline(recorder, store=store, intake=limits) as p:
        assert (await p.accept(turn("q0"))).outcome is Outcome.ACCEPTED
        assert (await p.accept(turn("q1"))).outcome is Outcome.ACCEPTED
        busy = await p.accept(turn("q2"))
        assert (busy.outcome, busy.retry_after) == (Outcome.BUSY, 7.0)
        other = await p.accept(turn("x", conversation="c2"))
        assert other.outcome is Outcome.ACCEPTED
        gate.set()
        assert await p.drain(10)
        # Nothing of q2 was recorded: the same delivery is accepted now.
        assert (await p.accept(turn("q2"))).outcome is Outcome.ACCEPTED
        assert await p.drain(10)
    assert sorted(recorder.shown) == ["re: q0", "re: q1", "re: q2", "re: x"]
    assert [s for s in recorder.shown if s.startswith("re: q")] == ["re: q0", "re: q1", "re: q2"]
    assert p.stats.busy == 1


@pytest.mark.anyio
async def test_busy_past_the_total_bound() -> None:
    """Past `total` Turns waiting in all conversations: BUSY."""
    gate = anyio.Event()
    limits = IntakeLimits(total=3, lost_notice=LOST)
    async with pipeline(Recorder(gate=gate), intake=limits) as p:
        outcomes = [(await p.accept(turn("q", conversation=f"c{n}"))).outcome for n in range(4)]
        gate.set()
        assert await p.drain(10)
    assert outcomes == [Outcome.ACCEPTED] * 3 + [Outcome.BUSY]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.integers(0, 5)),
        min_size=1,
        max_size=25,
    )
)
def test_every_accepted_turn_is_answered_once_in_order(arrivals: list[tuple[str, int]]) -> None:
    """Whatever arrives (redeliveries included), each accepted Turn gets one answer, in order."""

    async def scenario() -> None:
        gate = anyio.Event()
        recorder = Recorder(gate=gate)
        limits = IntakeLimits(per_conversation=3, total=6, lost_notice=LOST)
        accepted: list[str] = []
        async with pipeline(recorder, intake=limits) as p:
            for conversation, n in arrivals:
                admission = await p.accept(turn(f"{conversation}-{n}", conversation=conversation))
                if admission.outcome is Outcome.ACCEPTED:
                    accepted.append(f"re: {conversation}-{n}")
            gate.set()
            assert await p.drain(10)
        assert sorted(recorder.shown) == sorted(accepted)
        for conversation in ("c1", "c2", "c3"):
            mine = [a for a in accepted if a.startswith(f"re: {conversation}-")]
            assert [s for s in recorder.shown if s in mine] == mine

    anyio.run(scenario)


@pytest.mark.anyio
async def test_shutdown_leaves_unanswered_turns_journaled() -> None:
    """Leaving the pipeline with Turns running and queued keeps every one of them journaled."""
    store = MemoryStore()
    recorder = Recorder(gate=anyio.Event(), expect_running=2)  # never opened
    async with pipeline(recorder, store=store) as p:
        for text, conversation in [("a1", "c1"), ("b1", "c2"), ("a2", "c1"), ("a3", "c1")]:
            await p.accept(turn(text, conversation=conversation))
        with anyio.fail_after(5):
            await recorder.reached.wait()
        p.stop_intake()
        assert not await p.drain(0.05)
    assert await journaled_texts(store) == ["a1", "b1", "a2", "a3"]
    # The two that were streaming were closed as interrupted; nothing was answered.
    assert recorder.shown == [FAST.failure_notice] * 2


@pytest.mark.anyio
async def test_a_failing_turn_is_finished_and_its_lane_goes_on() -> None:
    """A Turn whose answer fails with a bug is logged and removed; the next one is answered."""
    store = MemoryStore()
    recorder = Recorder(explode=("boom",))
    async with pipeline(recorder, store=store) as p:
        await p.accept(turn("boom"))
        await p.accept(turn("after"))
        assert await p.drain(10)
    # The user of the failed one was told so (the relay's notice); the next is answered.
    assert recorder.shown == [FAST.failure_notice, "re: after"]
    assert await store.journaled() == []


# ---------------------------------------------------------------- prompts


@pytest.mark.anyio
async def test_second_turn_sees_the_first_in_its_prompt() -> None:
    """History: the second prompt holds the first question and answer."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        await p.accept(turn("first"))
        assert await p.drain(10)
        await p.accept(turn("second"))
        assert await p.drain(10)
    second = recorder.prompts[1]
    assert [(m.role, m.content) for m in second] == [
        ("system", "I am a."),
        ("user", "first"),
        ("assistant", "re: first"),
        ("user", "second"),
    ]


@pytest.mark.anyio
async def test_trim_receives_history_oldest_first() -> None:
    """The trim sees history oldest first, so cutting the front drops the oldest turns."""
    recorder = Recorder()
    async with pipeline(recorder, trim_to=2) as p:
        for n in range(3):
            await p.accept(turn(f"q{n}"))
        assert await p.drain(10)
    last = recorder.prompts[-1]
    assert [m.content for m in last] == ["I am a.", "q1", "re: q1", "q2"]


@pytest.mark.anyio
async def test_intake_refused_after_stop() -> None:
    """After stop_intake, a Turn is refused as closed, nothing runs, nothing is journaled."""
    recorder, store = Recorder(), MemoryStore()
    async with pipeline(recorder, store=store) as p:
        p.stop_intake()
        admission = await p.accept(turn("late"))
    assert admission.outcome is Outcome.CLOSED
    assert recorder.shown == []
    assert await store.journaled() == []


@pytest.mark.anyio
async def test_no_surface_means_unanswerable_not_crash() -> None:
    """A Turn no surface can reach is counted, logged and removed; the pipeline lives on."""
    recorder, store = Recorder(), MemoryStore()
    async with pipeline(recorder, store=store) as p:
        await p.accept(replace(turn("hi"), handles=ReplyHandles()))
        await p.accept(turn("ok", conversation="c2"))
        assert await p.drain(10)
    assert p.stats.unanswerable == 1
    assert recorder.shown == ["re: ok"]
    assert await store.journaled() == []


@pytest.mark.parametrize(
    ("error", "broken"),
    [
        (PlatformPermissionDenied("scope", operation="aiInteraction.prepare", status=403), True),
        (PlatformQuotaExceeded("quota", operation="aiInteraction.prepare", status=403), True),
        (PlatformRejected("type", operation="x", status=400, code="invalid.content.type"), True),
        (SessionExpired("expired", operation="robot.sendBySession", code="300001"), False),
        (PlatformRateLimited("qps", operation="aiInteraction.update", status=403), False),
        (PlatformUnavailable("500", operation="aiInteraction.update", status=500), False),
    ],
)
def test_only_app_wide_failures_mark_a_surface_down(error: Exception, broken: bool) -> None:
    """Permission, quota and unsupported-content errors mark a surface down; others do not."""
    assert surface_is_broken(error) is broken
