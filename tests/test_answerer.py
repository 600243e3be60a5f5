"""The answerer's prompt: history trimmed with the safety factor, and asked again shorter.

One Turn at a time through ``Answerer.answer`` with the production pieces that matter
here (``LLMSource`` on the simulated model, ``tokens.trim_history`` with the configured
factor, ``tokens.halve_history``) and a surface that records what it was given.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx2
import pytest
import tiktoken

from bridge.answerer import Answerer, AnswerStats, AssistantRuntime
from bridge.config import AssistantConfig, DeliveryConfig, LLMConfig, MemoryConfig, PacingConfig
from bridge.config_chat import NoticesConfig
from bridge.conversation.prompts import PromptSet, PromptTemplate
from bridge.delivery.outcome import Cause
from bridge.delivery.relay import RelayResult
from bridge.emulator.model.context import ContextLimit
from bridge.emulator.model.script import ModelScript
from bridge.emulator.server import running_emulator
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client
from bridge.llm.tokens import (
    count_messages,
    halve_history,
    load_encodings,
    token_factor,
    trim_history,
)
from bridge.state import Exchange, MemoryStore
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn
from tests.llm.conftest import FAST as FAST_MODEL
from tests.llm.conftest import ServedModel

pytestmark = pytest.mark.anyio

FAST = PacingConfig(oneshot_window=0.05, min_interval=0.05, max_idle=0.1, close_timeout=2)
NOTICE = "（回答中断，请稍后重试）"
MEMORY = MemoryConfig(turns=20)
SYSTEM = "I am a."
PAST = [(f"第{n}个问题：" + "问" * 30, f"第{n}个回答：" + "答" * 30) for n in range(6)]


@pytest.fixture
async def model() -> AsyncIterator[ServedModel]:
    """The emulator's simulated model, fast."""
    async with running_emulator() as running:
        running.emulator.model.set_speed(FAST_MODEL)
        yield ServedModel(running.emulator.model, f"{running.base_url}/v1", running.base_url)


@pytest.fixture(scope="module")
def cl100k() -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded once for the module."""
    return load_encodings(["cl100k_base"]).get("cl100k_base")


@dataclass
class Shown:
    """A one-shot surface that records the texts it was asked to show."""

    texts: list[str] = field(default_factory=list)
    name = "ai_reply"
    can_stream = False
    can_split = True

    async def open(self) -> None:  # pragma: no cover - one-shot only
        raise RuntimeError("one-shot")

    async def send_once(self, text: str) -> None:
        self.texts.append(text)


def turn(text: str) -> Turn:
    """A question in a single chat."""
    return Turn(
        assistant="a",
        source="stream_bot",
        conversation_type=ConversationType.SINGLE,
        conversation_key="c1",
        conversation_title="",
        sender=Sender(staff_id="s1", union_id=None, nick="Alice"),
        text=text,
        handles=ReplyHandles(conversation_token="ct"),
        received_at=0.0,
    )


async def ask(
    model: ServedModel,
    http: httpx2.AsyncClient,
    cl100k: tiktoken.Encoding,
    shown: Shown,
    question: str,
    **llm: object,
) -> tuple[RelayResult | None, MemoryStore]:
    """``question`` answered by an assistant on the simulated model, with ``PAST`` as history."""
    config = LLMConfig.model_validate(
        {"base_url": model.base_url, "model": "deepseek-chat", "max_retries": 0, **llm}
    )
    assistant = AssistantConfig(
        name="a",
        client_id="c",
        client_secret="s",  # type: ignore[arg-type]
        llm=config,
        pacing=FAST.model_copy(update={"failure_notice": NOTICE}),
        delivery=DeliveryConfig(prefer=("ai_reply",), ai_template_id="t.schema"),
    )
    runtime = AssistantRuntime(
        config=assistant,
        prompts=PromptSet(base=PromptTemplate(Path("p.md"), SYSTEM), by_type={}),
        source=LLMSource(create_openai_client(config, {}, http), config),
        trim=partial(trim_history, cl100k, factor=token_factor(config.model, config)),
        shorten=partial(halve_history, cl100k),
        build_surface=lambda turn, name: shown,  # type: ignore[arg-type,return-value]
    )
    store = MemoryStore()
    answerer = Answerer(
        {"a": runtime},
        store,
        MEMORY,
        max_concurrent=1,
        stats=AnswerStats(),
        clock=time.time,
        today=lambda: datetime(2026, 11, 24),
    )
    key = answerer.memory_key(turn(question))
    for user, reply in PAST:
        exchange = Exchange(user=user, assistant=reply, at=time.time())
        await store.remember(key, exchange, limit=MEMORY.turns, now=time.time(), ttl=MEMORY.ttl)
    return await answerer.answer(turn(question)), store


def prompt_chars(question: str, past: list[tuple[str, str]]) -> int:
    """The simulated model's token count of the prompt with ``past`` as history."""
    return len(SYSTEM) + sum(len(u) + len(a) for u, a in past) + len(question)


async def test_refused_prompt_is_answered_with_half_the_history(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """Refused as too long: asked again with the newer half of the history, and answered."""
    model.simulator.set_context(ContextLimit(tokens=prompt_chars("现在呢？", PAST) - 1))
    model.simulator.queue(ModelScript(text="好的"))
    shown = Shown()
    result, store = await ask(model, http, cl100k, shown, "现在呢？")
    assert result is not None
    assert result.ok
    assert shown.texts == ["好的"]
    refused, answered = model.simulator.emissions()
    assert (refused.outcome, answered.outcome) == ("failed", "complete")
    assert len(refused.prompt) == 2 + 2 * len(PAST)
    assert [m.content for m in answered.prompt[1:-1]] == [
        text for exchange in PAST[3:] for text in exchange
    ]
    *_, last = await store.history("a/c1", now=time.time(), ttl=MEMORY.ttl, limit=MEMORY.turns)
    assert (last.user, last.assistant) == ("现在呢？", "好的")


async def test_second_refusal_fails_with_the_too_long_cause(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """Still too long with half the history: the reply fails, its cause "too long",
    with the prompt-too-long notice."""
    model.simulator.set_context(ContextLimit(tokens=prompt_chars("现在呢？", PAST[5:]) - 1))
    shown = Shown()
    result, _ = await ask(model, http, cl100k, shown, "现在呢？")
    assert result is not None
    assert not result.ok
    assert "too long" in (result.error or "")
    assert result.cause is Cause.PROMPT_TOO_LONG
    assert shown.texts == [NoticesConfig().prompt_too_long]  # the cause's own notice
    assert model.simulator.requests == 2


async def test_prompt_that_fits_is_sent_whole_once(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """Within the context: one request with the whole history."""
    model.simulator.set_context(ContextLimit(tokens=prompt_chars("现在呢？", PAST)))
    model.simulator.queue(ModelScript(text="好的"))
    result, _ = await ask(model, http, cl100k, Shown(), "现在呢？")
    assert result is not None
    assert result.ok
    [emission] = model.simulator.emissions()
    assert len(emission.prompt) == 2 + 2 * len(PAST)


async def test_factor_decides_how_much_history_is_sent(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """The same budget sends less history under a larger cl100k factor."""
    past = [
        ChatMessage(role, text) for u, a in PAST for role, text in (("user", u), ("assistant", a))
    ]
    whole = count_messages(
        cl100k, [ChatMessage.system(SYSTEM), *past, ChatMessage.user("现在呢？")]
    )
    sent = []
    for factor in (1.0, 2.0):
        model.simulator.reset()
        model.simulator.queue(ModelScript(text="好的"))
        result, _ = await ask(
            model,
            http,
            cl100k,
            Shown(),
            "现在呢？",
            context_tokens=whole + 100,  # a budget of exactly the whole prompt
            max_output_tokens=100,
            token_factors={"cl100k_base": factor},
        )
        assert result is not None
        assert result.ok
        [emission] = model.simulator.emissions()
        sent.append(len(emission.prompt) - 2)
    assert sent[0] == 2 * len(PAST)
    assert 0 < sent[1] < sent[0]
