"""Tests of bridge.llm.think: <think>…</think> split out of streamed content."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.events import ReasoningDelta, TextDelta
from bridge.llm.think import ThinkSplitter


def split(*pieces: str) -> tuple[str, str]:
    """Feed ``pieces`` and return (visible text, reasoning)."""
    splitter = ThinkSplitter()
    events = [e for p in pieces for e in splitter.feed(p)] + splitter.flush()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    return text, reasoning


def test_plain_content_passes_through() -> None:
    """Content without tags is all visible text, unchanged."""
    assert split("Hello ", "world") == ("Hello world", "")


def test_think_block_becomes_reasoning() -> None:
    """A leading <think> block is reasoning; the blank line after it is dropped."""
    assert split("<think>\nplan\n</think>\n\nAnswer") == ("Answer", "\nplan\n")


def test_tags_cut_across_chunks() -> None:
    """Tags split anywhere across deltas are still recognised."""
    assert split("<th", "ink>ab", "c</th", "ink", ">\n", "Answer") == ("Answer", "abc")


def test_tag_after_visible_text_is_text() -> None:
    """A <think> that comes after visible text is part of the answer."""
    assert split("Use the ", "<think> tag") == ("Use the <think> tag", "")


def test_unterminated_think_is_reasoning() -> None:
    """A stream that ends inside <think> gives everything to reasoning."""
    assert split("<think>half a thou", "ght </thi") == ("", "half a thought </thi")


def test_partial_open_tag_at_end_is_text() -> None:
    """A stream that ends on a partial "<thi" releases it as text."""
    assert split("<thi") == ("<thi", "")


def test_reasoning_is_emitted_before_the_close_tag_arrives() -> None:
    """Reasoning flows while thinking; only a possible tag prefix is held back."""
    splitter = ThinkSplitter()
    assert splitter.feed("<think>abc<") == [ReasoningDelta("abc")]
    assert splitter.feed("/think>Hi") == [TextDelta("Hi")]


@given(
    reasoning=st.text(alphabet="ab<>/thinkx \n", max_size=30).filter(lambda s: "</think>" not in s),
    answer=st.text(alphabet="ab<>/thinkx \n", max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=8),
)
def test_any_chunking_gives_the_same_split(reasoning: str, answer: str, cuts: list[int]) -> None:
    """However the content is cut into deltas, the split is the same as for one delta."""
    content = f"<think>{reasoning}</think>{answer}"
    points = sorted({min(c, len(content)) for c in cuts})
    pieces = [content[a:b] for a, b in zip([0, *points], [*points, len(content)], strict=True)]
    assert split(*pieces) == split(content)
    assert split(content) == (answer.lstrip(), reasoning)
