"""The pipeline with in-memory seams: dedup, ordering, concurrency, history, trimming."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import anyio
import pytest

from bridge.admission import Outcome
from bridge.config import AssistantConfig, MemoryConfig, PacingConfig
from bridge.conversation.prompts import PromptSet, PromptTemplate
from bridge.conversation.store import MemoryStore
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.errors import (
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformRejected,
    PlatformUnavailable,
    SessionExpired,
)
from bridge.llm.messages import ChatMessage
from bridge.pipeline import AssistantRuntime, Pipeline, surface_is_broken
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn

FAST = PacingConfig(oneshot_window=0.05, min_interval=0.05, max_idle=0.1, close_timeout=2)


@dataclass
class Recorder:
    """A surface that records what it showed, and the prompts the model saw."""

    shown: list[str] = field(default_factory=list)
    prompts: list[list[ChatMessage]] = field(default_factory=list)
    running: int = 0
    most_running: int = 0
    gate: anyio.Event | None = None
    expect_running: int = 0
    reached: anyio.Event = field(default_factory=anyio.Event)

    name = "ai_reply"
    can_stream = False
    can_split = True

    async def open(self) -> None:  # pragma: no cover - one-shot only
        raise RuntimeError("one-shot")

    async def send_once(self, text: str) -> None:
        self.shown.append(text)

    def stream(self, messages: Sequence[ChatMessage]) -> object:
        self.prompts.append(list(messages))
        answer = "re: " + messages[-1].content

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
        delivery_ids=ids,
    )


@asynccontextmanager
async def pipeline(recorder: Recorder, **kwargs: object) -> AsyncIterator[Pipeline]:
    async with Pipeline(
        {"a": runtime(recorder, **kwargs)},  # type: ignore[arg-type]
        MemoryStore(),
        MemoryConfig(turns=10),
        max_concurrent=8,
        clock=time.time,
        today=lambda: datetime(2026, 11, 24),
    ) as running:
        yield running


@pytest.mark.anyio
async def test_redelivery_gets_no_second_answer() -> None:
    """The same msgId under a new frame id is dropped: one answer."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        first = await p.accept(turn("hi", ids=("msg:1", "frame:a")))
        again = await p.accept(turn("hi", ids=("msg:1", "frame:b")))
        assert await p.drain(10)
    assert (first.outcome, again.outcome) == (Outcome.ACCEPTED, Outcome.DUPLICATE)
    assert recorder.shown == ["re: hi"]
    assert (p.stats.answered, p.stats.duplicates) == (1, 1)


@pytest.mark.anyio
async def test_turns_of_one_conversation_are_answered_in_order() -> None:
    """Turns of one conversation queue and are answered one at a time, in order."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        for n in range(5):
            await p.accept(turn(f"q{n}", ids=(f"msg:{n}",)))
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
            await p.accept(turn("q", conversation=f"c{n}", ids=(f"msg:{n}",)))
        with anyio.fail_after(5):
            await recorder.reached.wait()  # all three are streaming at once
        gate.set()
        assert await p.drain(10)
    assert len(recorder.shown) == 3


@pytest.mark.anyio
async def test_second_turn_sees_the_first_in_its_prompt() -> None:
    """History: the second prompt holds the first question and answer."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        await p.accept(turn("first", ids=("msg:1",)))
        assert await p.drain(10)
        await p.accept(turn("second", ids=("msg:2",)))
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
            await p.accept(turn(f"q{n}", ids=(f"msg:{n}",)))
        assert await p.drain(10)
    last = recorder.prompts[-1]
    assert [m.content for m in last] == ["I am a.", "q1", "re: q1", "q2"]


@pytest.mark.anyio
async def test_intake_refused_after_stop() -> None:
    """After stop_intake, a Turn is refused as closed and nothing runs."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        p.stop_intake()
        admission = await p.accept(turn("late"))
    assert admission.outcome is Outcome.CLOSED
    assert recorder.shown == []


@pytest.mark.anyio
async def test_no_surface_means_unanswerable_not_crash() -> None:
    """A Turn no surface can reach is counted and logged, the pipeline lives on."""
    recorder = Recorder()
    async with pipeline(recorder) as p:
        await p.accept(replace(turn("hi", ids=("msg:x",)), handles=ReplyHandles()))
        await p.accept(turn("ok", conversation="c2", ids=("msg:y",)))
        assert await p.drain(10)
    assert p.stats.unanswerable == 1
    assert recorder.shown == ["re: ok"]


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
