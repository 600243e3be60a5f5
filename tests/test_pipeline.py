"""The pipeline with in-memory seams: dedup, journal, bounds, replay, ordering, history."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.admission import Outcome
from bridge.config import AssistantConfig, DeliveryConfig, MemoryConfig, PacingConfig
from bridge.conversation.prompts import PromptSet, PromptTemplate
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.errors import (
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformRejected,
    PlatformUnavailable,
    SessionExpired,
    StateError,
)
from bridge.llm.messages import ChatMessage
from bridge.pipeline import AssistantRuntime, IntakeLimits, Pipeline, surface_is_broken
from bridge.state import JournalEntry, MemoryStore, Store, Verdict
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn

FAST = PacingConfig(oneshot_window=0.05, min_interval=0.05, max_idle=0.1, close_timeout=2)
# Set explicitly: the AI card template id may be required for ai_reply.
DELIVERY = DeliveryConfig(prefer=("ai_reply",), ai_template_id="bridge-test.schema")
LOST = "answer lost"


@dataclass
class Recorder:
    """A surface that records what it showed, and a model that records its prompts.

    With a ``gate``, every answer waits for it: Turns really queue. ``explode`` names
    questions whose answer fails with a bug (not a model error).
    """

    shown: list[str] = field(default_factory=list)
    prompts: list[list[ChatMessage]] = field(default_factory=list)
    running: int = 0
    most_running: int = 0
    gate: anyio.Event | None = None
    expect_running: int = 0
    reached: anyio.Event = field(default_factory=anyio.Event)
    explode: tuple[str, ...] = ()

    name = "ai_reply"
    can_stream = False
    can_split = True

    async def open(self) -> None:  # pragma: no cover - one-shot only
        raise RuntimeError("one-shot")

    async def send_once(self, text: str) -> None:
        self.shown.append(text)

    def stream(self, messages: Sequence[ChatMessage]) -> object:
        self.prompts.append(list(messages))
        question = messages[-1].content
        answer = "re: " + question

        @asynccontextmanager
        async def events() -> AsyncIterator[AsyncIterator[LLMEvent]]:
            async def gen() -> AsyncIterator[LLMEvent]:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
                if self.expect_running and self.running >= self.expect_running:
                    self.reached.set()
                try:
                    if self.gate is not None:
                        await self.gate.wait()
                    if question in self.explode:
                        raise RuntimeError("a bug")
                    yield TextDelta(answer)
                    yield End("stop")
                finally:
                    self.running -= 1

            yield gen()

        return events()


def runtime(recorder: Recorder, trim_to: int | None = None) -> AssistantRuntime:
    config = AssistantConfig(
        name="a",
        client_id="c",
        client_secret="s",  # type: ignore[arg-type]
        pacing=FAST,
        delivery=DELIVERY,
    )

    def trim(
        system: ChatMessage, history: list[ChatMessage], user: ChatMessage, budget: int
    ) -> list[ChatMessage]:
        kept = history if trim_to is None else history[len(history) - trim_to :]
        return [system, *kept, user]

    prompts = PromptSet(base=PromptTemplate(Path("p.md"), "I am {assistant_name}."), by_type={})
    return AssistantRuntime(
        config=config,
        prompts=prompts,
        source=recorder,  # type: ignore[arg-type]
        trim=trim,
        build_surface=lambda turn, name: recorder,  # type: ignore[arg-type,return-value]
    )


def turn(text: str, *, conversation: str = "c1", ids: tuple[str, ...] = ()) -> Turn:
    return Turn(
        assistant="a",
        source="stream_bot",
        conversation_type=ConversationType.SINGLE,
        conversation_key=conversation,
        conversation_title="",
        sender=Sender(staff_id="s1", union_id=None, nick="Alice"),
        text=text,
        handles=ReplyHandles(conversation_token="ct"),
        received_at=0.0,
        delivery_ids=ids or (f"msg:{conversation}:{text}",),
    )


@dataclass
class Clock:
    """A clock the test moves."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def pipeline(
    recorder: Recorder,
    *,
    store: Store | None = None,
    intake: IntakeLimits | None = None,
    max_concurrent: int = 8,
    clock: Clock | None = None,
    trim_to: int | None = None,
    owner: str = "",
) -> AsyncIterator[Pipeline]:
    async with Pipeline(
        {"a": runtime(recorder, trim_to)},
        store or MemoryStore(),
        MemoryConfig(turns=10, dedup_ttl=60.0),
        max_concurrent=max_concurrent,
        intake=intake or IntakeLimits(lost_notice=LOST),
        owner=owner,
        clock=clock or time.time,
        today=lambda: datetime(2026, 11, 24),
    ) as running:
        yield running


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


# ---------------------------------------------------------------- replay


async def left_behind(store: Store, texts: list[tuple[str, str]], *, at: float) -> None:
    """Journal Turns as a process that then died would have left them."""
    clock = Clock(at)
    gate = anyio.Event()  # never opened: nothing is answered
    async with pipeline(Recorder(gate=gate), store=store, clock=clock) as p:
        for text, conversation in texts:
            assert (await p.accept(turn(text, conversation=conversation))).taken


@pytest.mark.anyio
async def test_replay_answers_in_original_order_per_conversation() -> None:
    """Turns a gone process journaled are answered, each conversation in arrival order."""
    store = MemoryStore()
    arrivals = [("a1", "c1"), ("b1", "c2"), ("a2", "c1"), ("c1", "c3"), ("b2", "c2"), ("a3", "c1")]
    await left_behind(store, arrivals, at=1000.0)
    recorder = Recorder()
    async with pipeline(recorder, store=store, clock=Clock(1100.0), owner="me") as p:
        adopted = await store.adopt_turns("me", now=1100.0)
        assert await p.replay(adopted) == 6
        assert await p.drain(10)
    for prefix in ("a", "b", "c"):
        answers = [s for s in recorder.shown if s.startswith(f"re: {prefix}")]
        assert answers == [f"re: {t}" for t, _ in arrivals if t.startswith(prefix)]
    assert len(recorder.shown) == 6
    assert await store.journaled() == []
    assert p.stats.replayed == 6


@pytest.mark.anyio
async def test_replay_tells_a_too_old_turn_once_that_its_answer_was_lost() -> None:
    """Past replay_max_age, the user is told once, the model is not asked, the entry goes."""
    store = MemoryStore()
    await left_behind(store, [("old", "c1")], at=1000.0)
    await left_behind(store, [("new", "c2")], at=4500.0)
    recorder = Recorder()
    async with pipeline(recorder, store=store, clock=Clock(4700.0), owner="me") as p:
        await p.replay(await store.adopt_turns("me", now=4700.0))
        assert await p.drain(10)
    assert sorted(recorder.shown) == sorted([LOST, "re: new"])
    assert [m[-1].content for m in recorder.prompts] == ["new"]
    assert await store.journaled() == []
    assert (p.stats.lost, p.stats.replayed) == (1, 1)


@pytest.mark.anyio
async def test_replay_drops_entries_nobody_can_answer() -> None:
    """An unreadable entry, or one of an assistant no longer configured, is removed."""
    store = MemoryStore()
    stranger = replace(turn("hi"), assistant="gone")
    for n, payload in enumerate(["{not json", stranger.to_json()]):
        entry = JournalEntry(f"t{n}", "x/c", payload, 1.0, "", (f"k{n}",))
        await store.admit(entry, now=1.0, dedup_ttl=60, max_per_lane=9, max_total=9)
    recorder = Recorder()
    async with pipeline(recorder, store=store, owner="me") as p:
        assert await p.replay(await store.adopt_turns("me", now=2.0)) == 0
    assert await store.journaled() == []
    assert recorder.shown == []


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


# ---------------------------------------------------------------- an unreachable store


class Flaky(MemoryStore):
    """A memory store that fails every call with StateError while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.finish_refused = anyio.Event()

    def _check(self) -> None:
        if self.down:
            raise StateError("connection refused", location="redis://test")

    async def admit(self, entry: JournalEntry, **bounds: float) -> Verdict:  # type: ignore[override]
        self._check()
        return await super().admit(entry, **bounds)  # type: ignore[arg-type]

    async def next_turn(self, lane: str, owner: str) -> JournalEntry | None:
        self._check()
        return await super().next_turn(lane, owner)

    async def finish(self, turn_id: str, *, now: float) -> None:
        if self.down:
            self.finish_refused.set()
        self._check()
        await super().finish(turn_id, now=now)


@pytest.mark.anyio
async def test_an_unreachable_store_refuses_new_turns_as_unavailable() -> None:
    """While the store is down a Turn is UNAVAILABLE (nothing recorded); after, it is taken."""
    store, recorder = Flaky(), Recorder()
    async with pipeline(recorder, store=store) as p:
        store.down = True
        refused = await p.accept(turn("q", ids=("msg:1",)))
        store.down = False
        again = await p.accept(turn("q", ids=("msg:1",)))
        assert await p.drain(10)
    assert (refused.outcome, refused.retry_after) == (Outcome.UNAVAILABLE, 5.0)
    assert "connection refused" in refused.reason
    assert again.outcome is Outcome.ACCEPTED
    assert recorder.shown == ["re: q"]
    assert p.stats.unavailable == 1


@pytest.mark.anyio
async def test_a_lane_waits_out_the_store_and_answers_each_turn_once() -> None:
    """The store goes away mid-answer: the answer is delivered, removed once it is back,
    and the next Turn follows, each answered once."""
    gate, store = anyio.Event(), Flaky()
    recorder = Recorder(gate=gate, expect_running=1)
    async with pipeline(recorder, store=store) as p:
        await p.accept(turn("q0"))
        await p.accept(turn("q1"))
        with anyio.fail_after(5):
            await recorder.reached.wait()
        store.down = True
        gate.set()  # q0's answer completes while the store is away
        with anyio.fail_after(5):
            await store.finish_refused.wait()
        assert recorder.shown == ["re: q0"]
        store.down = False
        assert await p.drain(10)
    assert recorder.shown == ["re: q0", "re: q1"]
    assert await store.journaled() == []
