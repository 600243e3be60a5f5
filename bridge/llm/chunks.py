"""One streamed chat-completion chunk, read from its server-sent event (pure).

``LLMSource`` decodes the stream's events itself (see ``bridge.llm.source``) and hands
each event's data here: ``read_event`` parses its JSON, and ``read_chunk`` takes out
what an answer needs: the content and reasoning of the first choice (``n`` is 1: only it
is ours), the finish reason, the usage. The shapes accepted are those OpenAI-compatible
servers send:

- reasoning in the delta's ``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM,
  OpenRouter), the first non-empty one;
- ``choices`` empty or absent (the usage chunk), ``delta`` or ``usage`` null;
- a usage without both token counts is ignored (the source then counts locally when it
  can): a quirk of an informational field should not fail the answer.

An event that is not JSON, and anything else that is not a chunk's shape (not an
object, ``choices`` not a list, a content that is not text) raises ``LLMError`` naming
the endpoint and, for a chunk, the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bridge.core.events import Usage
from bridge.errors import LLMError

__all__ = ["Chunk", "read_chunk", "read_event"]

_REASONING_FIELDS = ("reasoning_content", "reasoning")
_SHOWN = 120  # characters of a malformed value quoted in the error


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one chunk carries for the answer (``None``/empty when it carries nothing)."""

    content: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None


def read_event(payload: str, endpoint: str) -> object:
    """The JSON of one event's data; ``LLMError`` quoting it when it is not JSON."""
    try:
        return json.loads(payload)
    except ValueError:
        raise LLMError(
            f"model endpoint {endpoint} sent an event that is not JSON: {_shown(payload)}"
        ) from None


def read_chunk(data: object, endpoint: str) -> Chunk:
    """The parts of the chunk ``data`` that matter; ``LLMError`` when it is malformed."""
    if not isinstance(data, dict):
        raise _malformed(endpoint, "the chunk", "a JSON object", data)
    choices = data.get("choices")
    if choices is None:
        choices = []
    elif not isinstance(choices, list):
        raise _malformed(endpoint, "choices", "a list", choices)
    content = reasoning = finish_reason = None
    for index, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise _malformed(endpoint, f"choices[{index}]", "an object", choice)
        reason = choice.get("finish_reason")
        if reason is not None:
            if not isinstance(reason, str):
                raise _malformed(endpoint, f"choices[{index}].finish_reason", "text", reason)
            finish_reason = reason
        if index == 0:
            content, reasoning = _delta(choice.get("delta"), endpoint)
    return Chunk(content, reasoning, finish_reason, _usage(data.get("usage")))


def _delta(delta: object, endpoint: str) -> tuple[str | None, str | None]:
    if delta is None:
        return None, None
    if not isinstance(delta, dict):
        raise _malformed(endpoint, "choices[0].delta", "an object", delta)
    content = delta.get("content")
    if content is not None and not isinstance(content, str):
        raise _malformed(endpoint, "choices[0].delta.content", "text", content)
    reasoning = None
    for field in _REASONING_FIELDS:
        value = delta.get(field)
        if isinstance(value, str) and value:
            reasoning = value
            break
    return content, reasoning


def _usage(usage: object) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if type(prompt) is int and type(completion) is int:
        return Usage(prompt, completion)
    return None


def _malformed(endpoint: str, field: str, expected: str, value: object) -> LLMError:
    return LLMError(
        f"model endpoint {endpoint} sent a malformed chunk: {field} should be {expected},"
        f" got {_shown(value)}"
    )


def _shown(value: object) -> str:
    """``value`` quoted for an error message, cut short when long."""
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 1] + "…"
