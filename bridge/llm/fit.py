"""Prompts that fit: when the endpoint refuses a prompt as too long, ask once more, shorter.

bridge trims the history to the model's token budget with a stand-in tokenizer and a
safety factor (``bridge.llm.tokens``), an estimate that can still fall short. The
endpoint then refuses the prompt (``LLMPromptTooLong``: a 400 context-length error, or
llama.cpp's empty stream) before it has said a word. ``fitted_stream`` wraps one answer's
stream so that such a refusal is not the end:

    async with fitted_stream(source.stream, messages, shorten) as events:
        async for event in events:
            ...  # the events of the first prompt, or of the shorter one

- a refusal that comes before the first event (nothing has reached the consumer, so
  nothing was shown) is logged, the prompt is made shorter with ``shorten`` (bridge drops
  the oldest half of the history: ``tokens.halve_history``), and the answer is asked
  once more; the refused stream is closed first;
- it is asked once more only once: a second refusal is raised as ``LLMPromptTooLong``,
  and so is the first when ``shorten`` has nothing to drop (no history: the same prompt
  would be refused again);
- anything else, and anything after the first event, is raised as it comes: a stream
  that has started is never replayed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio

from bridge.core.events import LLMEvent
from bridge.errors import LLMPromptTooLong
from bridge.llm.messages import ChatMessage

__all__ = ["OpenStream", "Shorten", "fitted_stream"]

log = logging.getLogger(__name__)

OpenStream = Callable[[Sequence[ChatMessage]], AbstractAsyncContextManager[AsyncIterator[LLMEvent]]]
"""Opens the stream of one answer to a prompt: ``LLMSource.stream``."""

Shorten = Callable[[Sequence[ChatMessage]], list[ChatMessage] | None]
"""A shorter prompt than the one refused, or None when it cannot be made shorter."""

CLOSE_TIMEOUT = 5.0


def fitted_stream(
    open_stream: OpenStream, messages: Sequence[ChatMessage], shorten: Shorten
) -> AbstractAsyncContextManager[AsyncIterator[LLMEvent]]:
    """The events of the answer to ``messages``, asked once more shorter if refused as too long.

    See the module docstring. Used like ``open_stream(messages)`` itself.
    """
    return _fitted(open_stream, tuple(messages), shorten)


@asynccontextmanager
async def _fitted(
    open_stream: OpenStream, messages: tuple[ChatMessage, ...], shorten: Shorten
) -> AsyncIterator[AsyncIterator[LLMEvent]]:
    events = _events(open_stream, messages, shorten)
    try:
        yield events
    finally:
        # Drives the generator's own exits (the open stream's close among them) even
        # when the consumer stopped early or was cancelled.
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            await events.aclose()


async def _events(
    open_stream: OpenStream, messages: tuple[ChatMessage, ...], shorten: Shorten
) -> AsyncGenerator[LLMEvent, None]:
    prompt: Sequence[ChatMessage] = messages
    for attempt in (1, 2):
        started = False
        try:
            async with open_stream(prompt) as events:
                async for event in events:
                    started = True
                    yield event
            return
        except LLMPromptTooLong as exc:
            if started:
                raise
            shorter = shorten(prompt) if attempt == 1 else None
            if shorter is None:
                why = "the history was halved already" if attempt > 1 else "no history to drop"
                log.warning("%s; not asked again: %s", exc, why)
                raise
            log.warning(
                "%s; asking once more with the oldest half of the history dropped (%d"
                " messages instead of %d). If this recurs, raise [llm] token_factors or"
                " lower context_tokens",
                exc,
                len(shorter),
                len(prompt),
            )
            prompt = shorter
