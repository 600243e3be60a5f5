"""Tests for bridge.core.transcript: the reply's text in each reasoning mode."""

from __future__ import annotations

from bridge.core.transcript import KEPT_TITLE, THINKING_TITLE, Transcript, quote


def test_quote_prefixes_every_line_and_keeps_blank_lines_in_the_quote() -> None:
    """Blank lines become a bare '>' so the quote does not break apart."""
    assert quote("a\n\nb") == "> a\n>\n> b"


def test_hidden_mode_shows_only_the_answer() -> None:
    """Reasoning never reaches the document or a thinking block."""
    transcript = Transcript("hidden")
    transcript.add_reasoning("let me think")
    assert transcript.thinking(3000) == ""
    transcript.add_text("Answer.")
    assert transcript.document == "Answer."


def test_quoted_mode_shows_thinking_until_the_answer_starts() -> None:
    """The thinking block is shown while reasoning and gone once text arrives."""
    transcript = Transcript("quoted")
    transcript.add_reasoning("step one\nstep two")
    assert transcript.thinking(3000) == f"{THINKING_TITLE}\n> step one\n> step two"
    assert transcript.document == ""
    transcript.add_text("\n\nAnswer.")
    assert transcript.thinking(3000) == ""
    assert transcript.document == "Answer."


def test_quoted_thinking_keeps_only_the_latest_reasoning_within_bounds() -> None:
    """A long reasoning shows its tail, cut at a line start, within the size given."""
    transcript = Transcript("quoted")
    transcript.add_reasoning("".join(f"thought number {i}\n" for i in range(500)))
    block = transcript.thinking(400)
    assert len(block) <= 400
    assert block.startswith(f"{THINKING_TITLE}\n> …thought number")
    assert block.endswith("thought number 499")


def test_kept_mode_keeps_the_quoted_reasoning_above_the_answer() -> None:
    """The reasoning block stays in the final text, a paragraph above the answer."""
    transcript = Transcript("kept")
    transcript.add_reasoning("why")
    transcript.add_text("\n\nbecause")
    assert transcript.document == f"{KEPT_TITLE}\n> why\n\nbecause"


def test_kept_document_only_grows_at_the_end() -> None:
    """Every rendering is a prefix of the next one, across reasoning and answer turns."""
    transcript = Transcript("kept")
    pieces = [("r", "a\r"), ("r", "\nb\n"), ("t", "\n"), ("t", "x"), ("r", "c"), ("t", "y\r\n")]
    previous = ""
    for kind, text in pieces:
        if kind == "r":
            transcript.add_reasoning(text)
        else:
            transcript.add_text(text)
        assert transcript.document.startswith(previous)
        previous = transcript.document
