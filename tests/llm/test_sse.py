"""Tests of bridge.llm.sse: server-sent events decoded a read at a time."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from bridge.llm.sse import SSEDecoder

WIRE = (
    'data: {"a": 1}\n\n'
    ": keep-alive\n\n"
    "event: message\nid: 7\nretry: 100\ndata: 你好\n\n"
    "data: line one\r\ndata:line two\r\n\r\n"
    "data: [DONE]\n\n"
).encode()
EVENTS = ['{"a": 1}', "你好", "line one\nline two", "[DONE]"]


def test_events_of_one_read() -> None:
    """Comments and the other fields are skipped; data lines join; CRLF as LF."""
    assert SSEDecoder().feed(WIRE) == EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(WIRE)), max_size=12))
def test_any_split_into_reads_gives_the_same_events(cuts: list[int]) -> None:
    """However the bytes are split, even inside a line or a character, the same events."""
    decoder = SSEDecoder()
    bounds = [0, *sorted(cuts), len(WIRE)]
    events = [e for a, b in pairwise(bounds) for e in decoder.feed(WIRE[a:b])]
    assert events + decoder.close() == EVENTS


def test_an_event_waits_for_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n") == []
    assert decoder.feed(b"\n") == ["x"]


def test_close_gives_the_event_the_stream_ended_in() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b") == ["a"]
    assert decoder.close() == ["b"]
    assert decoder.close() == []


def test_blank_lines_without_data_are_no_events() -> None:
    assert SSEDecoder().feed(b"\n\n: only a comment\n\n\r\n") == []


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    """As the SSE standard decodes: the event arrives, a stray byte shown as U+FFFD."""
    assert SSEDecoder().feed(b'data: {"t": "a\xffb"}\n\n') == ['{"t": "a\ufffdb"}']
