"""What a reply says so far: the answer, and the reasoning shown as the config asks.

The ``Pacer`` feeds every text and reasoning delta here and asks for two things:

- ``document``: the reply's text in canonical form (``bridge.core.frames.canonical``). It
  only ever grows at the end, which is what lets the pacer commit its head to a finished
  message while the rest streams on. It is the answer, plus, in ``kept`` mode, the
  reasoning as quoted blocks in the order the model produced them.
- ``thinking``: a transient quoted "思考中…" block (``quoted`` mode only) shown while the
  model reasons and nothing of the answer has arrived yet; it is never part of the
  final text.

``hidden`` mode shows no reasoning at all. ``<think>…</think>`` tags are split out by the
LLM source before they get here; this module only sees typed deltas.
"""

from __future__ import annotations

from bridge.core.frames import canonical
from bridge.core.options import ReasoningMode

__all__ = ["KEPT_TITLE", "THINKING_TITLE", "Transcript", "quote"]

THINKING_TITLE = "> 思考中…"
KEPT_TITLE = "> 思考过程"


def quote(text: str) -> str:
    """``text`` as a markdown block quote; a prefix of the text quotes to a prefix."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(f"> {line}" if line else ">" for line in lines)


class Transcript:
    """The answer and reasoning of one reply, rendered for one reasoning mode."""

    def __init__(self, mode: ReasoningMode) -> None:
        self._mode = mode
        # (is_reasoning, pieces) in arrival order; consecutive deltas of a kind share one.
        self._segments: list[tuple[bool, list[str]]] = []
        self._answer: list[str] = []
        self._reasoning: list[str] = []
        self._version = 0
        self._cached_version = -1
        self._cached = ""

    @property
    def version(self) -> int:
        """Grows with every delta that changed something; lets callers cache renderings."""
        return self._version

    def add_text(self, text: str) -> None:
        """Append a piece of the visible answer."""
        if text:
            self._answer.append(text)
            self._append(False, text)

    def add_reasoning(self, text: str) -> None:
        """Append a piece of the model's reasoning."""
        if text and self._mode != "hidden":
            self._reasoning.append(text)
            self._append(True, text)

    def _append(self, reasoning: bool, text: str) -> None:
        if self._segments and self._segments[-1][0] == reasoning:
            self._segments[-1][1].append(text)
        else:
            self._segments.append((reasoning, [text]))
        self._version += 1

    @property
    def document(self) -> str:
        """The reply's text so far, canonical and append-only."""
        if self._cached_version != self._version:
            self._cached = canonical(self._render())
            self._cached_version = self._version
        return self._cached

    def _render(self) -> str:
        if self._mode != "kept":
            return "".join(self._answer)
        blocks = []
        for reasoning, pieces in self._segments:
            # Each segment drops its own leading blank lines: models often open with "\n\n"
            # after the reasoning, and the blocks are already a paragraph apart.
            text = canonical("".join(pieces))
            if reasoning:
                blocks.append(f"{KEPT_TITLE}\n{quote(text)}")
            elif text:
                blocks.append(text)
        return "\n\n".join(blocks)

    def thinking(self, max_chars: int) -> str:
        """The quoted thinking block to show now, or ``""``: at most ``max_chars`` long."""
        if self._mode != "quoted" or self._answer or not self._reasoning:
            return ""
        text = canonical("".join(self._reasoning)).rstrip()
        # Only the latest reasoning fits; cut it at a line start so quoting stays clean.
        room = max(0, (max_chars - len(THINKING_TITLE) - 4) // 2)
        if len(text) > room:
            tail = text[len(text) - room :]
            newline = tail.find("\n")
            text = "…" + (tail[newline + 1 :] if 0 <= newline < len(tail) - 1 else tail)
        return f"{THINKING_TITLE}\n{quote(text)}" if text else THINKING_TITLE
