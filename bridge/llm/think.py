"""Split ``<think>…</think>`` reasoning out of streamed content.

Reasoning models served through vLLM, Ollama and the like put their reasoning inside the
content, wrapped in ``<think>`` tags, instead of in a separate ``reasoning_content`` field.
``ThinkSplitter`` is a small pure state machine fed with content deltas exactly as they
arrive; it copes with a tag cut anywhere across deltas by holding back only the few
characters that could still turn out to be part of a tag.

Rules (chosen so that an answer that merely *mentions* the tags is left alone):

- ``<think>`` opens reasoning only before any visible text (leading whitespace allowed);
- ``</think>`` closes it; the whitespace right after it is dropped (models put a blank
  line there, which would make the visible answer start with an empty line);
- after that, everything is visible text, tags included;
- at the end of the stream, held-back characters are released as what they were.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.core.events import ReasoningDelta, TextDelta

OPEN = "<think>"
CLOSE = "</think>"


class _State(StrEnum):
    START = "start"  # nothing visible yet; a <think> may still come
    THINKING = "thinking"  # inside <think>…
    AFTER = "after"  # just past </think>: skipping whitespace
    TEXT = "text"  # plain visible text from here on


class ThinkSplitter:
    """Turns content deltas into text and reasoning deltas."""

    def __init__(self) -> None:
        self._state = _State.START
        self._held = ""

    def feed(self, content: str) -> list[TextDelta | ReasoningDelta]:
        """The events for one content delta (possibly none while a tag is undecided)."""
        out: list[TextDelta | ReasoningDelta] = []
        text = self._held + content
        self._held = ""
        while text:
            if self._state is _State.TEXT:
                out.append(TextDelta(text))
                text = ""
            elif self._state is _State.START:
                stripped = text.lstrip()
                if stripped.startswith(OPEN):
                    self._state = _State.THINKING
                    text = stripped[len(OPEN) :]
                elif OPEN.startswith(stripped):
                    self._held = text  # only whitespace and a partial "<think" so far
                    text = ""
                else:
                    self._state = _State.TEXT
            elif self._state is _State.THINKING:
                end = text.find(CLOSE)
                if end >= 0:
                    if end:
                        out.append(ReasoningDelta(text[:end]))
                    self._state = _State.AFTER
                    text = text[end + len(CLOSE) :]
                else:
                    keep = _partial_suffix(text, CLOSE)
                    if len(text) > keep:
                        out.append(ReasoningDelta(text[: len(text) - keep]))
                    self._held = text[len(text) - keep :] if keep else ""
                    text = ""
            else:  # AFTER
                stripped = text.lstrip()
                if stripped:
                    self._state = _State.TEXT
                text = stripped
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        """Release what is still held back, at the end of the stream."""
        held, self._held = self._held, ""
        if not held:
            return []
        if self._state is _State.THINKING:
            return [ReasoningDelta(held)]
        if self._state is _State.START and held.strip():
            return [TextDelta(held)]
        return []


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
