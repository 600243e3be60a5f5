"""A prompt refused as too long is asked once more, shorter (bridge.llm.fit).

Against the simulated model with a context limit, through the real ``LLMSource``; the
shortening is the production one (``tokens.halve_history``). A few cases that the model
cannot produce (a refusal after text) use an in-memory stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import httpx2
import pytest
import tiktoken

from bridge.config import LLMConfig
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.emulator.model.context import ContextLimit, Refusal
from bridge.emulator.model.script import ModelFault, ModelScript
from bridge.errors import LLMError, LLMPromptTooLong
from bridge.llm.fit import fitted_stream
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client
from bridge.llm.tokens import halve_history
from tests.llm.conftest import ServedModel

pytestmark = pytest.mark.anyio

SYSTEM = ChatMessage.system("be brief")
QUESTION = ChatMessage.user("and now?")


def history(turns: int, size: int = 40) -> list[ChatMessage]:
    """``turns`` question/answer pairs of about ``size`` characters each, oldest first."""
    messages = []
    for n in range(turns):
        messages += [
            ChatMessage.user(f"question {n} " + "q" * size),
            ChatMessage.assistant(f"answer {n} " + "a" * size),
        ]
    return messages


def chars(messages: Sequence[ChatMessage]) -> int:
    """The simulated model's token count of a prompt: its characters."""
    return sum(len(m.content) for m in messages)


def source_for(model: ServedModel, http: httpx2.AsyncClient) -> LLMSource:
    """An LLMSource on the simulated model, without openai's retries."""
    config = LLMConfig(base_url=model.base_url, model="gpt-4o", max_retries=0)
    return LLMSource(create_openai_client(config, {}, http), config)


async def answer(source: LLMSource, messages: list[ChatMessage], cl100k: tiktoken.Encoding) -> str:
    """The text of the fitted answer to ``messages``."""
    text = ""
    shorten = partial(halve_history, cl100k)
    async with fitted_stream(source.stream, messages, shorten) as events:
        async for event in events:
            text += getattr(event, "text", "")
    return text


@pytest.mark.parametrize("refusal", ["openai", "empty_stream", "error_event"])
async def test_refused_prompt_is_retried_once_shorter_and_answered(
    model: ServedModel,
    http: httpx2.AsyncClient,
    cl100k: tiktoken.Encoding,
    refusal: Refusal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Over the limit: one refusal, then the newer half of the history gets the answer."""
    prompt = [SYSTEM, *history(6), QUESTION]
    model.simulator.set_context(ContextLimit(tokens=chars(prompt) - 1, refusal=refusal))
    model.simulator.queue(ModelScript(text="the answer"))
    with caplog.at_level(logging.WARNING, logger="bridge.llm.fit"):
        assert await answer(source_for(model, http), prompt, cl100k) == "the answer"
    refused, answered = model.simulator.emissions()
    assert refused.outcome == "failed"
    assert answered.outcome == "complete"
    assert [m.content for m in refused.prompt] == [m.content for m in prompt]
    assert [m.content for m in answered.prompt] == [
        m.content for m in [SYSTEM, *history(6)[6:], QUESTION]
    ]
    [line] = caplog.messages
    assert "too long" in line
    assert model.base_url in line
    assert "asking once more with the oldest half" in line
    assert "(8 messages instead of 14)" in line


async def test_second_refusal_ends_as_prompt_too_long(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """Still too long after the history was halved: LLMPromptTooLong, after two requests."""
    prompt = [SYSTEM, *history(6), QUESTION]
    model.simulator.set_context(ContextLimit(tokens=chars([SYSTEM, QUESTION]) + 10))
    with pytest.raises(LLMPromptTooLong):
        await answer(source_for(model, http), prompt, cl100k)
    assert [e.outcome for e in model.simulator.emissions()] == ["failed", "failed"]


async def test_no_history_means_no_retry(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """System and question alone too long: nothing to drop, so one request only."""
    model.simulator.set_context(ContextLimit(tokens=5))
    with pytest.raises(LLMPromptTooLong):
        await answer(source_for(model, http), [SYSTEM, QUESTION], cl100k)
    assert model.simulator.requests == 1


async def test_a_prompt_that_fits_is_sent_unchanged(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """Within the limit: one request, the whole history in it."""
    prompt = [SYSTEM, *history(6), QUESTION]
    model.simulator.set_context(ContextLimit(tokens=chars(prompt)))
    model.simulator.queue(ModelScript(text="fine"))
    assert await answer(source_for(model, http), prompt, cl100k) == "fine"
    [emission] = model.simulator.emissions()
    assert [m.content for m in emission.prompt] == [m.content for m in prompt]


async def test_other_failures_are_not_retried(
    model: ServedModel, http: httpx2.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    """A 500 is raised as it is: only a too-long refusal earns a second request."""
    model.simulator.add_fault(ModelFault(kind="status", status=500))
    with pytest.raises(LLMError) as caught:
        await answer(source_for(model, http), [SYSTEM, *history(6), QUESTION], cl100k)
    assert not isinstance(caught.value, LLMPromptTooLong)
    assert model.simulator.requests == 1


class Scripted:
    """An in-memory model: each request gets the next of ``answers`` (events, then an error)."""

    def __init__(self, *answers: tuple[list[LLMEvent], Exception | None]) -> None:
        self._answers = list(answers)
        self.prompts: list[list[ChatMessage]] = []
        self.closed = 0
        self.closed_before: list[int] = []  # at each opening, how many were closed

    def stream(self, messages: Sequence[ChatMessage]) -> object:
        """The next answer, as ``LLMSource.stream`` would give it."""
        self.prompts.append(list(messages))
        events, error = self._answers.pop(0)

        @asynccontextmanager
        async def opened() -> AsyncIterator[AsyncIterator[LLMEvent]]:
            self.closed_before.append(self.closed)

            async def gen() -> AsyncIterator[LLMEvent]:
                for event in events:
                    yield event
                if error is not None:
                    raise error

            try:
                yield gen()
            finally:
                self.closed += 1

        return opened()


async def drain(model: Scripted, prompt: list[ChatMessage], cl100k: tiktoken.Encoding) -> str:
    """The text of the fitted answer from the in-memory ``model``."""
    text = ""
    shorten = partial(halve_history, cl100k)
    async with fitted_stream(model.stream, prompt, shorten) as events:  # type: ignore[arg-type]
        async for event in events:
            text += getattr(event, "text", "")
    return text


async def test_refusal_after_text_is_never_replayed(cl100k: tiktoken.Encoding) -> None:
    """Once an event went out, even a too-long error is raised and nothing is asked again."""
    model = Scripted(([TextDelta("Hel")], LLMPromptTooLong("too long")), ([], None))
    with pytest.raises(LLMPromptTooLong):
        await drain(model, [SYSTEM, *history(4), QUESTION], cl100k)
    assert len(model.prompts) == 1
    assert model.closed == 1


async def test_refused_stream_is_closed_before_the_retry(cl100k: tiktoken.Encoding) -> None:
    """The refused stream's context is exited before the second one is opened."""
    model = Scripted(([], LLMPromptTooLong("too long")), ([TextDelta("ok"), End("stop")], None))
    assert await drain(model, [SYSTEM, *history(4), QUESTION], cl100k) == "ok"
    assert model.closed_before == [0, 1]
    assert model.closed == 2
    assert len(model.prompts[1]) < len(model.prompts[0])
