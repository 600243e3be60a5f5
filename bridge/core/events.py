"""Typed events of one streamed model answer, as the pacing core and the relay see them.

They live in the core because the core consumes them and imports nothing outside the
standard library; the LLM source (``bridge.llm.source``) turns openai chunks into them,
so nothing past the source sees an openai type. A failure is not an event: the source
raises ``LLMError`` from its iterator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the visible answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (``reasoning_content`` or ``<think>…</think>``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the endpoint (or counted locally when it reports none)."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class End:
    """The stream finished normally; ``finish_reason`` as the endpoint gave it."""

    finish_reason: str | None


LLMEvent = TextDelta | ReasoningDelta | Usage | End
