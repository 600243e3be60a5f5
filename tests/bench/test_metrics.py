"""Tests for bridge.bench.metrics: figures from hand-made records, no emulator."""

from __future__ import annotations

import pytest

from bridge.bench.metrics import (
    Observation,
    ResourceUse,
    Visible,
    percentile,
    prefix_length,
    reply_figures,
    summarize,
)

USE = ResourceUse(
    wall_seconds=10.0,
    cpu_seconds=2.0,
    chunks=4000,
    peak_rss_bytes=60 * 2**20,
    baseline_rss_bytes=50 * 2**20,
    call_seconds_p50=0.01,
)


def observation(
    changes: list[Visible],
    *,
    answer: str = "abcdef",
    emitted: tuple[float, ...] = (1.0, 1.0, 2.0, 2.0, 3.0, 3.0),
    long: bool = True,
    calls: int = 3,
    rejected: int = 0,
    closed: bool = True,
) -> Observation:
    return Observation(
        reply_id="r0000",
        kind="long" if long else "short",
        long=long,
        user_at=0.5,
        answer=answer,
        emitted_at=emitted,
        model_end_at=emitted[-1] if emitted else None,
        changes=tuple(changes),
        calls=calls,
        rejected=rejected,
        closed=closed,
    )


def test_percentile_interpolates_between_ranks() -> None:
    """Linear interpolation like numpy's default; empty input has no percentile."""
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([5.0, 1.0], 100) == 5.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def test_prefix_length_counts_the_shared_head() -> None:
    """A frame that is a prefix counts whole; a thinking block or cursor counts nothing."""
    assert prefix_length("abc", "abcdef") == 3
    assert prefix_length("abX", "abcdef") == 2
    assert prefix_length("> 思考中…", "abcdef") == 0
    assert prefix_length("abcdef▍", "abcdef") == 6


def test_a_streamed_reply_has_lags_waits_and_a_tail() -> None:
    """Each character's lag is from its emission to the first frame showing it."""
    figures = reply_figures(
        observation(
            [
                Visible(at=1.5, text="ab", final=False),
                Visible(at=2.5, text="abcd", final=False),
                Visible(at=3.1, text="abcdef", final=True),
            ]
        )
    )
    assert figures.lags == pytest.approx((0.5, 0.5, 0.5, 0.5, 0.1, 0.1))
    assert figures.streaming_lags == pytest.approx((0.5, 0.5, 0.1, 0.1))
    assert figures.first_visible == pytest.approx(1.0)
    assert figures.end_to_final == pytest.approx(0.1)
    assert figures.streamed
    assert figures.final_only_chars == 2
    assert figures.shown_chars == 6
    assert figures.max_wait == pytest.approx(0.5)


def test_a_wait_is_bounded_by_the_previous_frame() -> None:
    """Text that came before the previous frame waited only since that frame."""
    figures = reply_figures(
        observation(
            [
                Visible(at=2.5, text="ab", final=False),  # cd was already there
                Visible(at=3.5, text="abcdef", final=True),
            ]
        )
    )
    assert figures.max_wait == pytest.approx(1.0)
    assert figures.lags[2] == pytest.approx(1.5)


def test_a_thinking_block_shows_no_answer_text() -> None:
    """A quoted reasoning frame is visible text but covers no answer character."""
    figures = reply_figures(
        observation(
            [
                Visible(at=0.9, text="> 思考中…\n> hmm", final=False),
                Visible(at=3.2, text="abcdef", final=True),
            ]
        )
    )
    assert figures.first_visible == pytest.approx(0.4)
    assert figures.final_only_chars == 6
    assert figures.lags == pytest.approx((2.2, 2.2, 1.2, 1.2, 0.2, 0.2))


def test_a_one_shot_reply_is_not_streamed() -> None:
    """A single final frame: no tail counted, no wait, one call."""
    figures = reply_figures(
        observation([Visible(at=3.4, text="abcdef", final=True)], long=False, calls=1)
    )
    assert not figures.streamed
    assert figures.final_only_chars == 0
    assert figures.max_wait is None
    assert figures.calls == 1


def test_leading_blank_lines_are_never_expected() -> None:
    """The answer is matched in canonical form, as the pacer shows it."""
    figures = reply_figures(
        observation(
            [Visible(at=2.0, text="ab", final=True)],
            answer="\n\nab",
            emitted=(1.0, 1.0, 1.5, 1.5),
        )
    )
    assert figures.lags == pytest.approx((0.5, 0.5))


def test_an_unclosed_reply_has_no_final_text() -> None:
    """A message left inputting has no end-to-final time."""
    figures = reply_figures(observation([Visible(at=1.5, text="ab", final=False)], closed=False))
    assert figures.end_to_final is None
    assert not figures.closed


def test_summarize_pools_replies_and_resources() -> None:
    """Calls split by kind, rejections and unclosed messages add up, CPU per 1k chunks."""
    streamed = reply_figures(
        observation(
            [Visible(at=1.5, text="ab", final=False), Visible(at=3.1, text="abcdef", final=True)],
            calls=4,
            rejected=1,
        )
    )
    short = reply_figures(
        observation([Visible(at=3.4, text="abcdef", final=True)], long=False, calls=1)
    )
    lost = reply_figures(
        observation([Visible(at=1.5, text="ab", final=False)], calls=2, closed=False)
    )
    row = summarize("bridge", 2, 20, [streamed, short, lost], USE)
    assert (row.replies, row.replies_long, row.replies_short) == (3, 2, 1)
    assert row.calls_per_reply == pytest.approx(7 / 3)
    assert row.calls_per_long_reply == pytest.approx(3.0)
    assert row.calls_per_short_reply == pytest.approx(1.0)
    assert row.rejected == 1
    assert row.unclosed == 1
    assert row.undelivered == 0
    assert row.final_only_chars == 4
    assert row.final_only_share == pytest.approx(4 / 8)
    assert row.cpu_per_1000_chunks == pytest.approx(0.5)
    assert row.rss_per_conversation_kb == pytest.approx(5 * 1024)
    assert row.lag_max is not None
    assert row.floor_seconds == pytest.approx(3 / 20)  # replies ÷ QPS
