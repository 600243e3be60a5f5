"""Tests for bridge.core.frames: normalization, safe frames and message splits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.frames import (
    canonical,
    normalize,
    open_fence,
    safe_frame,
    split_point,
    split_text,
    with_notice,
)

CODE = "```python\n" + "\n".join(f"value_{i} = compute({i})" for i in range(60)) + "\n```"


def test_normalize_unifies_line_endings_and_trims_the_ends() -> None:
    """CRLF and CR become LF, leading blank lines and trailing whitespace go."""
    assert normalize("\n\r\nHello\r\nworld\r  \n") == "Hello\nworld"


def test_canonical_of_a_prefix_is_a_prefix() -> None:
    """A CR at the end of one delta and LF at the start of the next do not rewrite history."""
    assert canonical("a\r") == "a\n"
    assert canonical("a\r\nb").startswith(canonical("a\r"))


def test_safe_frame_closes_an_open_fence_and_puts_the_cursor_inside() -> None:
    """An unterminated code block is closed; the cursor comes before the closing fence."""
    assert safe_frame("Look:\n```py\nx = 1", "▍") == "Look:\n```py\nx = 1▍\n```"


def test_safe_frame_keeps_a_closed_fence_as_is() -> None:
    """A complete code block needs no help; no trailing newline is shown."""
    assert safe_frame("```\nx\n```\n\n") == "```\nx\n```"


def test_safe_frame_matches_the_fence_marker_and_indent() -> None:
    """Tilde fences and indented fences close with their own marker."""
    assert safe_frame("  ~~~~\ncode") == "  ~~~~\ncode\n  ~~~~"


def test_safe_frame_holds_back_a_partial_table_row() -> None:
    """A table row still being typed is not shown until its line is complete."""
    text = "| a | b |\n|---|---|\n| 1 | 2"
    assert safe_frame(text) == "| a | b |\n|---|---|"
    assert safe_frame(text + " |\n") == text + " |"


def test_safe_frame_holds_back_a_fence_being_typed() -> None:
    """A half-typed fence line would open a block that is not there yet."""
    assert safe_frame("intro\n``") == "intro"
    assert safe_frame("intro\n```pyth") == "intro"


def test_safe_frame_of_nothing_is_empty_even_with_a_cursor() -> None:
    """No text, no frame: a lone cursor is not worth an update."""
    assert safe_frame("\n\n", "▍") == ""


def test_backticks_in_the_info_string_are_not_a_fence() -> None:
    """```a`b is inline code, not a fence opener (CommonMark)."""
    assert open_fence("```a`b\ncode") is None


def test_with_notice_closes_the_partial_text_before_the_notice() -> None:
    """An interrupted code block is closed so the notice renders outside it."""
    assert with_notice("x\n```\ncode", "（中断）") == "x\n```\ncode\n```\n\n（中断）"
    assert with_notice("", "（中断）") == "（中断）"


def test_split_prefers_a_paragraph_boundary() -> None:
    """The cut goes after the last blank line that fits."""
    text = "a" * 100 + "\n\n" + "b" * 50 + "\nc" + "d" * 100
    cut = split_point(text, 200)
    assert cut.head == "a" * 100
    assert text[cut.index :] == "b" * 50 + "\nc" + "d" * 100
    assert cut.reopen == ""


def test_split_never_cuts_inside_a_small_code_block() -> None:
    """A code block that fits is kept whole; the cut goes before it."""
    text = "intro " * 20 + "\n\n" + "```\n" + "x = 1\n" * 20 + "```\n\nafter" + "z" * 200
    cut = split_point(text, 300)
    assert open_fence(cut.head) is None
    assert cut.reopen == ""


def test_split_inside_a_long_code_block_closes_and_reopens_the_fence() -> None:
    """A block longer than the limit is closed at a line boundary and reopened."""
    cut = split_point(CODE, 500)
    assert cut.head.endswith("\n```")
    assert cut.reopen == "```python\n"
    assert len(cut.head) <= 500
    assert CODE[cut.index - 1] == "\n"


def test_split_of_a_single_long_line_breaks_at_punctuation() -> None:
    """CJK text without newlines breaks after a sentence mark rather than mid-word."""
    text = "这是一个句子。" * 100
    cut = split_point(text, 300)
    assert cut.head.endswith("。")
    assert len(cut.head) <= 300


def test_split_refuses_text_that_fits() -> None:
    """Asking to split a text that fits is a bug in the caller."""
    with pytest.raises(ValueError, match="fits"):
        split_point("short", 200)


def test_split_text_pieces_each_fit_and_reopen_code() -> None:
    """A long code answer becomes several messages, each a complete code block."""
    pieces = split_text("Here:\n\n" + CODE + "\n\nDone.", 400)
    assert len(pieces) > 2
    assert all(len(piece) <= 400 for piece in pieces)
    assert all(open_fence(piece) is None for piece in pieces)
    assert pieces[1].startswith("```python\n")


_SNIPPETS = st.sampled_from(
    ["\n", "\n\n", "```py\n", "\n```\n", "~~~\n", "| a | b |\n", "这是中文。", "word ", "x" * 120]
)
_TEXT = st.lists(st.one_of(_SNIPPETS, st.text("ab 字。\n`|~", max_size=40)), max_size=40).map(
    "".join
)


@settings(max_examples=150, deadline=None)
@given(text=_TEXT, limit=st.sampled_from([200, 257, 400]))
def test_split_pieces_fit_and_rejoin(text: str, limit: int) -> None:
    """Repeated splits: every shown head fits, and the raw pieces rejoin to the text."""
    rest, reopen, raws = normalize(text), "", []
    while len(rest) > limit:
        cut = split_point(rest, limit, after=len(reopen))
        assert len(cut.head) <= limit
        assert cut.index > len(reopen)
        assert open_fence(cut.head) is None
        raws.append(rest[len(reopen) : cut.index])
        reopen = cut.reopen
        rest = reopen + rest[cut.index :]
    raws.append(rest[len(reopen) :])
    assert "".join(raws) == normalize(text)


def test_a_fence_line_longer_than_the_limit_is_cut_closed() -> None:
    """A code-fence opener whose info string outruns the limit: the head closes the fence."""
    text = "```" + "x" * 260
    cut = split_point(text, 200)
    assert len(cut.head) <= 200
    assert open_fence(cut.head) is None
    assert cut.reopen == text[: cut.index] + "\n"


@settings(max_examples=150, deadline=None)
@given(text=_TEXT, cursor=st.sampled_from(["", "▍"]))
def test_safe_frames_never_leave_a_fence_open(text: str, cursor: str) -> None:
    """Whatever the prefix, a frame has no open fence and no trailing newline."""
    frame = safe_frame(text, cursor)
    assert open_fence(frame) is None
    assert frame == frame.rstrip()
