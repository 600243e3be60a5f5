"""Test helpers for the pipeline's tests: a recording surface and model, and a pipeline
with in-memory seams around it.

``Recorder`` is both the surface and the model of one assistant; ``pipeline()`` runs a
``Pipeline`` over it (a ``MemoryStore`` unless told otherwise); ``turn()`` makes a Turn
and ``Clock`` is a clock the test moves.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import anyio

from bridge.config import AssistantConfig, DeliveryConfig, MemoryConfig, PacingConfig
from bridge.conversation.prompts import PromptSet, PromptTemplate
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.llm.messages import ChatMessage
from bridge.pipeline import AssistantRuntime, IntakeLimits, Pipeline
from bridge.state import MemoryStore, Store
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn

__all__ = ["FAST", "LOST", "Clock", "Recorder", "pipeline", "runtime", "turn"]

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
