"""Tests of bridge.llm.source: the real openai client against the simulated model."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from bridge.config import LLMConfig
from bridge.core.events import End, LLMEvent, ReasoningDelta, TextDelta, Usage
from bridge.emulator.model.script import ModelFault, ModelScript, SpeedUpdate
from bridge.errors import LLMError, LLMRateLimited, LLMTimeout
from bridge.llm.messages import ChatMessage
from bridge.llm.source import PLACEHOLDER_API_KEY, LLMSource, create_openai_client
from bridge.llm.tokens import Encodings, count_messages
from tests.llm.conftest import ServedModel

PROMPT = [ChatMessage.system("be brief"), ChatMessage.user("hi")]


def source_for(
    model: ServedModel,
    http: httpx2.AsyncClient,
    *,
    encodings: Encodings | None = None,
    **settings: object,
) -> LLMSource:
    """An LLMSource on the simulated model; ``settings`` override LLMConfig fields."""
    config = LLMConfig.model_validate({"base_url": model.base_url, "model": "gpt-4o", **settings})
    client = create_openai_client(config, {}, http)
    encoding = encodings.for_model(config.model, config) if encodings else None
    return LLMSource(client, config, encoding=encoding)


async def collect(
    source: LLMSource, messages: Sequence[ChatMessage] = PROMPT, seen: list[LLMEvent] | None = None
) -> list[LLMEvent]:
    """Every event of one answer, also appended to ``seen`` as they come (for failures)."""
    seen = [] if seen is None else seen
    async with source.stream(messages) as events:
        async for event in events:
            seen.append(event)
    return seen


def text_of(events: Sequence[LLMEvent]) -> str:
    """The visible text of ``events``."""
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning_of(events: Sequence[LLMEvent]) -> str:
    """The reasoning of ``events``."""
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


@pytest.mark.anyio
async def test_api_key_from_config_then_env_then_placeholder(http: httpx2.AsyncClient) -> None:
    """The key comes from config, else OPENAI_API_KEY, else a placeholder; retries from config."""
    configured = LLMConfig(api_key=SecretStr("sk-config"), max_retries=5)
    assert create_openai_client(configured, {"OPENAI_API_KEY": "sk-env"}, http).api_key == (
        "sk-config"
    )
    env_client = create_openai_client(LLMConfig(), {"OPENAI_API_KEY": "sk-env"}, http)
    assert env_client.api_key == "sk-env"
    assert create_openai_client(LLMConfig(), {}, http).api_key == PLACEHOLDER_API_KEY
    assert create_openai_client(configured, {}, http).max_retries == 5


@pytest.mark.anyio
async def test_text_deltas_then_usage_then_end(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """A plain answer streams as text deltas, then the endpoint's usage, then End."""
    model.simulator.queue(ModelScript(text="Hello there, world!"))
    events = await collect(source_for(model, http))
    assert text_of(events) == "Hello there, world!"
    assert len([e for e in events if isinstance(e, TextDelta)]) == 5  # 4-char chunks
    assert events[-2:] == [Usage(prompt_tokens=10, completion_tokens=19), End("stop")]


@pytest.mark.anyio
async def test_finish_reason_is_passed_on(model: ServedModel, http: httpx2.AsyncClient) -> None:
    """End carries the endpoint's finish reason."""
    model.simulator.queue(ModelScript(text="cut sho", finish_reason="length"))
    events = await collect(source_for(model, http))
    assert events[-1] == End("length")


@pytest.mark.anyio
async def test_reasoning_content_field(model: ServedModel, http: httpx2.AsyncClient) -> None:
    """delta.reasoning_content becomes reasoning deltas, before the text."""
    model.simulator.queue(ModelScript(text="42", reasoning="Let me count."))
    events = await collect(source_for(model, http))
    assert reasoning_of(events) == "Let me count."
    assert text_of(events) == "42"
    kinds = [type(e) for e in events if isinstance(e, TextDelta | ReasoningDelta)]
    assert kinds.index(TextDelta) > max(i for i, k in enumerate(kinds) if k is ReasoningDelta)


@pytest.mark.anyio
@pytest.mark.parametrize("chunk_chars", [1, 3, 4, 7])
async def test_think_tags_split_across_chunks(
    model: ServedModel, http: httpx2.AsyncClient, chunk_chars: int
) -> None:
    """<think>…</think> in the content is reasoning, wherever the chunks cut the tags."""
    model.simulator.set_speed(SpeedUpdate(chunk_chars=chunk_chars))
    model.simulator.queue(ModelScript(text="The answer.", reasoning="hmm", reasoning_style="think"))
    events = await collect(source_for(model, http))
    assert text_of(events) == "The answer."
    assert reasoning_of(events) == "\nhmm\n"


@pytest.mark.anyio
async def test_usage_counted_locally_without_endpoint_usage(
    model: ServedModel, http: httpx2.AsyncClient, encodings: Encodings
) -> None:
    """With no usage from the endpoint, usage is counted with the model's encoding."""
    model.simulator.queue(ModelScript(text="hello world", usage=False))
    events = await collect(source_for(model, http, encodings=encodings))
    prompt = count_messages(encodings.get("o200k_base"), PROMPT)
    assert events[-2:] == [Usage(prompt_tokens=prompt, completion_tokens=2), End("stop")]


@pytest.mark.anyio
async def test_no_usage_event_without_usage_or_encoding(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """With neither endpoint usage nor an encoding, the stream ends with End alone."""
    model.simulator.queue(ModelScript(text="hello world", usage=False))
    events = await collect(source_for(model, http))
    assert not [e for e in events if isinstance(e, Usage)]
    assert events[-1] == End("stop")


@pytest.mark.anyio
async def test_stall_raises_llm_timeout(model: ServedModel, http: httpx2.AsyncClient) -> None:
    """No chunk within the idle timeout ends the stream with LLMTimeout, after partial text."""
    model.simulator.queue(ModelScript(text="abcdefgh" * 4))
    model.simulator.add_fault(ModelFault(kind="stall", after_chunks=2, seconds=30))
    seen: list[LLMEvent] = []
    with pytest.raises(LLMTimeout, match="idle"):
        await collect(source_for(model, http, idle_timeout=0.3), seen=seen)
    assert text_of(seen) == "abcdefgh"
    assert model.simulator.requests == 1


@pytest.mark.anyio
async def test_deadline_raises_llm_timeout(model: ServedModel, http: httpx2.AsyncClient) -> None:
    """The overall deadline ends a stream that keeps trickling."""
    model.simulator.set_speed(SpeedUpdate(tokens_per_second=40, chunk_chars=1))
    model.simulator.queue(ModelScript(text="x" * 400))
    with pytest.raises(LLMTimeout, match="deadline"):
        await collect(source_for(model, http, deadline=0.3, idle_timeout=5))


@pytest.mark.anyio
async def test_drop_after_chunks_is_not_replayed(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """A connection lost mid-stream raises LLMError after the partial text; no second request."""
    model.simulator.queue(ModelScript(text="abcdefgh" * 4))
    model.simulator.add_fault(ModelFault(kind="drop", after_chunks=3))
    seen: list[LLMEvent] = []
    with pytest.raises(LLMError) as caught:
        await collect(source_for(model, http, max_retries=3), seen=seen)
    assert not isinstance(caught.value, LLMTimeout)
    assert text_of(seen) == "abcdefghabcd"
    assert model.simulator.requests == 1
    assert (await model.simulator.wait_finished(0)).outcome == "dropped"


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "error"), [(429, LLMRateLimited), (500, LLMError)])
async def test_status_before_first_token_is_retried_then_fails(
    model: ServedModel, http: httpx2.AsyncClient, status: int, error: type[LLMError]
) -> None:
    """429/500 before the first token is retried max_retries times, then raised."""
    fault = ModelFault(kind="status", status=status, retry_after=0.01, count=None)
    model.simulator.add_fault(fault)
    with pytest.raises(error) as caught:
        await collect(source_for(model, http, max_retries=2))
    assert caught.value.status == status
    assert model.simulator.requests == 3


@pytest.mark.anyio
async def test_retry_before_first_token_recovers(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """A 429 followed by success gives the whole answer, once."""
    model.simulator.add_fault(ModelFault(kind="status", status=429, retry_after=0.01, count=1))
    model.simulator.queue(ModelScript(text="after a retry"))
    events = await collect(source_for(model, http, max_retries=2))
    assert text_of(events) == "after a retry"
    assert model.simulator.requests == 2


@pytest.mark.anyio
async def test_client_error_is_not_retried(model: ServedModel, http: httpx2.AsyncClient) -> None:
    """A 400 is raised at once as LLMError with its status and message."""
    with pytest.raises(LLMError, match="no script named") as caught:
        await collect(source_for(model, http, max_retries=2), [ChatMessage.user("[[script=nope]]")])
    assert caught.value.status == 400
    assert model.simulator.requests == 1


@pytest.mark.anyio
async def test_connection_refused_is_llm_error(http: httpx2.AsyncClient) -> None:
    """An endpoint that is not there is an LLMError, not an httpx2 or openai error."""
    config = LLMConfig(base_url="http://127.0.0.1:9/v1", max_retries=0)
    source = LLMSource(create_openai_client(config, {}, http), config)
    with pytest.raises(LLMError):
        await collect(source)


@pytest.mark.anyio
async def test_leaving_early_closes_the_response(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """Leaving the stream after the first event closes the HTTP response."""
    model.simulator.queue(ModelScript(text="abcdefgh" * 4))
    model.simulator.add_fault(ModelFault(kind="stall", after_chunks=1, seconds=30))
    async with source_for(model, http).stream(PROMPT) as events:
        async for event in events:
            assert event == TextDelta("abcd")
            break
    assert (await model.simulator.wait_finished(0)).outcome == "disconnected"


@pytest.mark.anyio
async def test_cancellation_closes_the_response(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """Cancelling the consumer while it waits for a chunk closes the HTTP response."""
    model.simulator.queue(ModelScript(text="abcdefgh" * 4))
    model.simulator.add_fault(ModelFault(kind="stall", after_chunks=1, seconds=30))
    seen: list[LLMEvent] = []
    with anyio.CancelScope() as scope:
        async with source_for(model, http).stream(PROMPT) as events:
            async for event in events:
                seen.append(event)
                scope.cancel()
    assert scope.cancelled_caught
    assert seen == [TextDelta("abcd")]
    assert (await model.simulator.wait_finished(0)).outcome == "disconnected"


@pytest.mark.anyio
async def test_sampling_options_reach_the_endpoint(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """The configured model name is the one the endpoint sees."""
    model.simulator.queue(ModelScript(text="ok"))
    await collect(source_for(model, http, temperature=0.2, top_p=0.9))
    assert model.simulator.emissions()[0].model == "gpt-4o"
