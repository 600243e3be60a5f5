"""Tests of bridge.llm.chunks: what an answer takes from each streamed chunk's JSON."""

from __future__ import annotations

import pytest

from bridge.core.events import Usage
from bridge.errors import LLMError
from bridge.llm.chunks import Chunk, read_chunk, read_event

ENDPOINT = "http://127.0.0.1:9/v1"


def chunk(delta: object = None, finish: object = None, **extra: object) -> dict[str, object]:
    """A chat.completion.chunk as OpenAI-compatible servers send it."""
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def test_content_and_role() -> None:
    assert read_chunk(chunk({"role": "assistant", "content": "你好"}), ENDPOINT) == Chunk("你好")


def test_finish_reason_with_an_empty_delta() -> None:
    assert read_chunk(chunk({}, "stop"), ENDPOINT) == Chunk(finish_reason="stop")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_from_either_field(field: str) -> None:
    """DeepSeek's ``reasoning_content`` and vLLM/OpenRouter's ``reasoning``."""
    got = read_chunk(chunk({field: "先想一想", "content": None}), ENDPOINT)
    assert got == Chunk(reasoning="先想一想")


def test_an_empty_reasoning_field_gives_way_to_the_other() -> None:
    got = read_chunk(chunk({"reasoning_content": "", "reasoning": "why"}), ENDPOINT)
    assert got.reasoning == "why"


def test_the_usage_chunk_has_no_choices() -> None:
    data = {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
    assert read_chunk(data, ENDPOINT) == Chunk(usage=Usage(12, 3))


@pytest.mark.parametrize(
    "usage", [None, {"total_tokens": 15}, {"prompt_tokens": "12", "completion_tokens": 3}, 7]
)
def test_a_usage_without_both_counts_is_ignored(usage: object) -> None:
    assert read_chunk({"choices": [], "usage": usage}, ENDPOINT) == Chunk()


def test_absent_or_null_choices_and_delta_carry_nothing() -> None:
    assert read_chunk({}, ENDPOINT) == Chunk()
    assert read_chunk({"choices": None}, ENDPOINT) == Chunk()
    assert read_chunk(chunk(None), ENDPOINT) == Chunk()


def test_only_the_first_choice_is_ours_but_any_finish_counts() -> None:
    data = {
        "choices": [
            {"index": 0, "delta": {"content": "a"}, "finish_reason": None},
            {"index": 1, "delta": {"content": "b"}, "finish_reason": "length"},
        ]
    }
    assert read_chunk(data, ENDPOINT) == Chunk(content="a", finish_reason="length")


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ("[1, 2]", "the chunk", "a JSON object"),
        ({"choices": {"0": {}}}, "choices", "a list"),
        ({"choices": ["x"]}, "choices[0]", "an object"),
        (chunk("hello"), "choices[0].delta", "an object"),
        (chunk({"content": ["a"]}), "choices[0].delta.content", "text"),
        (chunk({}, 1), "choices[0].finish_reason", "text"),
    ],
)
def test_a_malformed_chunk_names_the_endpoint_and_the_field(
    data: object, field: str, expected: str
) -> None:
    with pytest.raises(LLMError) as caught:
        read_chunk(data, ENDPOINT)
    message = str(caught.value)
    assert ENDPOINT in message
    assert f"{field} should be {expected}" in message


def test_a_long_malformed_value_is_shortened_in_the_message() -> None:
    with pytest.raises(LLMError) as caught:
        read_chunk(chunk({"content": ["x" * 1000]}), ENDPOINT)
    assert len(str(caught.value)) < 300
    assert str(caught.value).endswith("…")


def test_an_event_that_is_not_json_is_an_error_quoting_it() -> None:
    assert read_event('{"choices": []}', ENDPOINT) == {"choices": []}
    with pytest.raises(LLMError) as caught:
        read_event("<html>" + "x" * 300, ENDPOINT)
    message = str(caught.value)
    assert message.startswith(f"model endpoint {ENDPOINT} sent an event that is not JSON: '<html>")
    assert message.endswith("…")
