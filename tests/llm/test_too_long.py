"""A prompt over the model's context is recognised as such (bridge.llm.source).

The simulated model is given a context limit (bridge.emulator.model.context) and refuses
the way real servers do: OpenAI's 400 ``context_length_exceeded``, llama.cpp's empty
stream, llama.cpp's error event after an HTTP 200. Each must come out of ``LLMSource`` as
``LLMPromptTooLong``, naming the endpoint; other failures must not.
"""

from __future__ import annotations

import httpx2
import openai
import pytest

from bridge.config import LLMConfig
from bridge.emulator.model.context import ContextLimit, Refusal
from bridge.emulator.model.script import ModelScript
from bridge.errors import LLMError, LLMPromptTooLong
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client, prompt_too_long
from tests.llm.conftest import ServedModel

pytestmark = pytest.mark.anyio

LONG = [ChatMessage.system("be brief"), ChatMessage.user("x" * 200)]


def source_for(model: ServedModel, http: httpx2.AsyncClient) -> LLMSource:
    """An LLMSource on the simulated model, without openai's retries."""
    config = LLMConfig(base_url=model.base_url, model="gpt-4o", max_retries=0)
    return LLMSource(create_openai_client(config, {}, http), config)


async def answer(source: LLMSource, messages: list[ChatMessage]) -> str:
    """The text of one answer to ``messages``."""
    text = ""
    async with source.stream(messages) as events:
        async for event in events:
            text += getattr(event, "text", "")
    return text


@pytest.mark.parametrize(
    ("refusal", "words"),
    [
        ("openai", "refused the prompt as too long: This model's maximum context length"),
        ("empty_stream", "ended the stream before any text and without a finish reason"),
        ("error_event", "refused the prompt as too long: the request exceeds the available"),
    ],
)
async def test_each_refusal_is_prompt_too_long(
    model: ServedModel, http: httpx2.AsyncClient, refusal: Refusal, words: str
) -> None:
    """Every way of refusing an over-long prompt raises LLMPromptTooLong naming the URL."""
    model.simulator.set_context(ContextLimit(tokens=100, refusal=refusal))
    with pytest.raises(LLMPromptTooLong) as caught:
        await answer(source_for(model, http), LONG)
    assert f"model endpoint {model.base_url} {words}" in str(caught.value)
    [emission] = model.simulator.emissions()
    assert emission.outcome == "failed"
    assert emission.chunks == []


async def test_openai_refusal_keeps_status_and_servers_words(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """The 400 says its status and the server's own message."""
    model.simulator.set_context(ContextLimit(tokens=100))
    with pytest.raises(LLMPromptTooLong) as caught:
        await answer(source_for(model, http), LONG)
    assert caught.value.status == 400
    assert "maximum context length is 100 tokens" in str(caught.value)


async def test_a_prompt_within_the_limit_is_answered(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """Under the limit the model answers as usual, and uses up no script when refusing."""
    model.simulator.set_context(ContextLimit(tokens=100))
    model.simulator.queue(ModelScript(text="fine"))
    with pytest.raises(LLMPromptTooLong):
        await answer(source_for(model, http), LONG)
    assert await answer(source_for(model, http), [ChatMessage.user("short")]) == "fine"


async def test_the_limit_is_set_and_removed_over_the_control_api(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """PUT /_emulator/model/context sets the limit, DELETE removes it; reset forgets it."""
    url = f"{model.root}/_emulator/model/context"
    put = await http.put(url, json={"tokens": 100, "refusal": "empty_stream"})
    assert put.status_code == 200
    assert model.simulator.state().context == ContextLimit(tokens=100, refusal="empty_stream")
    assert (await http.put(url, json={"tokens": 0})).status_code == 422
    assert (await http.delete(url)).status_code == 200
    assert model.simulator.state().context is None
    model.simulator.set_context(ContextLimit(tokens=5))
    model.simulator.reset()
    assert model.simulator.state().context is None


async def test_other_client_errors_are_not_too_long(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """An unrelated 400 stays a plain LLMError."""
    model.simulator.queue(ModelScript(text="", fault={"kind": "status", "status": 400}))  # type: ignore[arg-type]
    with pytest.raises(LLMError) as caught:
        await answer(source_for(model, http), [ChatMessage.user("hi")])
    assert not isinstance(caught.value, LLMPromptTooLong)


async def test_an_empty_stream_with_a_finish_reason_is_not_too_long(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """A stream that finishes properly with no text is an (empty) answer, not a refusal."""
    model.simulator.queue(ModelScript(text=""))
    assert await answer(source_for(model, http), [ChatMessage.user("hi")]) == ""


def status_error(status: int, body: object) -> openai.APIStatusError:
    """The openai exception for an HTTP ``status`` answer with JSON ``body``."""
    request = httpx2.Request("POST", "http://model.test/v1/chat/completions")
    response = httpx2.Response(status, json=body, request=request)
    return openai.APIStatusError(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": {"message": "x", "code": "context_length_exceeded"}}, True),
        (400, {"error": {"message": "This model's maximum context length is 8192"}}, True),
        (400, {"error": {"message": "too many tokens: 9000 > 8192"}}, True),
        (400, {"error": {"message": "x", "type": "exceed_context_size_error"}}, True),
        (400, {"error": {"message": "Range of input length should be [1, 30720]"}}, True),
        (413, {"error": {"message": "Payload Too Large"}}, True),
        (400, {"error": {"message": "temperature must be at most 2"}}, False),
        (500, {"error": {"message": "maximum context length"}}, False),
        (429, {"error": {"message": "too many tokens per minute"}}, False),
    ],
)
def test_prompt_too_long_reads_status_code_and_words(
    status: int, body: object, expected: bool
) -> None:
    """400/413 with a context-length code, type or message is too long; others are not."""
    assert prompt_too_long(status_error(status, body)) is expected


def test_stream_error_event_is_read_too() -> None:
    """An error event inside a 200 stream (no status) is read by its words."""
    request = httpx2.Request("POST", "http://model.test/v1/chat/completions")
    body = {"message": "the request exceeds the available context size", "code": 400}
    assert prompt_too_long(openai.APIError("the request exceeds…", request, body=body))
    other = {"message": "the model crashed", "code": 500}
    assert not prompt_too_long(openai.APIError("the model crashed", request, body=other))
