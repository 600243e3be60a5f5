"""The benchmark's figures, computed from what the emulator recorded (pure functions).

Input per reply is an ``Observation``: when the user spoke, every character of the
answer with the time the simulated model emitted it, when the model ended, every visible
change of the bot's message (real time and text), and the DingTalk calls made for it.
All times come from the emulator process's clock, so they compare directly.

How a character's lag is found: the answer (in canonical form, as the pacer shows it) is
matched against each visible text in order; the characters a change shows for the first
time, as a common prefix with the answer, became visible at that change. A quoted
"thinking" block or a cursor glyph shares no prefix with the answer and so counts for
nothing, which lets every strategy run with the production display settings.

``reply_figures`` reduces one observation; ``summarize`` pools the replies of one
strategy into a ``StrategyFigures`` row. Its ``floor_seconds`` (replies ÷ QPS) is the
least time the rate limit lets the level's replies take at one call each: when all of
them are live at once, no rule can bring the last one's final text sooner.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.core.frames import canonical

__all__ = [
    "Observation",
    "ReplyFigures",
    "ResourceUse",
    "StrategyFigures",
    "Visible",
    "mean",
    "percentile",
    "prefix_length",
    "reply_figures",
    "summarize",
]


@dataclass(frozen=True, slots=True)
class Visible:
    """One visible change of the bot's message: when, what, and whether it closed it."""

    at: float
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything recorded about one reply."""

    reply_id: str
    kind: str
    long: bool
    user_at: float
    answer: str
    emitted_at: tuple[float, ...]  # one per character of ``answer``
    model_end_at: float | None
    changes: tuple[Visible, ...]
    calls: int  # DingTalk calls made for the reply (accepted or not)
    rejected: int  # of which answered 403 or 429
    closed: bool  # no message of the reply is left preparing or inputting
    delivered: bool = True  # some message showed the reply at all


@dataclass(frozen=True, slots=True)
class ReplyFigures:
    """The figures of one reply (seconds; ``None`` where a moment never came)."""

    reply_id: str
    kind: str
    long: bool
    calls: int
    rejected: int
    closed: bool
    delivered: bool
    streamed: bool  # some text was visible before the final call
    first_visible: float | None  # user's message → first visible text
    end_to_final: float | None  # model's end → final text
    lags: tuple[float, ...]  # per answer character: emitted → visible
    streaming_lags: tuple[float, ...]  # the same, for characters shown after the first frame
    shown_chars: int
    final_only_chars: int  # characters first visible in the final call (streamed replies)
    max_wait: float | None  # longest time new text waited for the update that showed it


@dataclass(frozen=True, slots=True)
class ResourceUse:
    """What the bridge process spent in one phase."""

    wall_seconds: float
    cpu_seconds: float
    chunks: int
    peak_rss_bytes: int
    baseline_rss_bytes: int
    call_seconds_p50: float | None  # a DingTalk call as the bridge saw it (budget wait included)


@dataclass(frozen=True, slots=True)
class StrategyFigures:
    """One row of the report: one strategy at one concurrency."""

    strategy: str
    concurrency: int
    qps: int
    replies: int
    replies_long: int
    replies_short: int
    calls_per_reply: float
    calls_per_long_reply: float | None
    calls_per_short_reply: float | None
    first_visible_p50: float | None
    first_visible_p99: float | None
    lag_p50: float | None
    lag_p99: float | None
    end_to_final_p50: float | None
    end_to_final_p99: float | None
    floor_seconds: float  # replies ÷ QPS: the least time one call per reply needs
    rejected: int
    unclosed: int
    undelivered: int
    final_only_chars: int
    final_only_share: float | None  # of the characters of streamed replies
    lag_p99_streaming: float | None  # characters shown after a reply's first frame
    lag_max: float | None
    wait_p50: float | None  # over replies, of each reply's longest wait
    wait_max: float | None
    wall_seconds: float
    cpu_seconds: float
    chunks: int
    cpu_per_1000_chunks: float | None
    peak_rss_mb: float
    rss_per_conversation_kb: float
    call_seconds_p50: float | None
    #: One of several instances (``bridge bench --instances``): its number from 1;
    #: ``None`` for a phase's only or total row.
    instance: int | None = None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean; ``None`` when empty."""
    return sum(values) / len(values) if values else None


def prefix_length(text: str, answer: str) -> int:
    """How many leading characters ``text`` shares with ``answer``."""
    if answer.startswith(text):
        return len(text)  # the usual case, done at C speed
    limit = min(len(text), len(answer))
    index = 0
    while index < limit and text[index] == answer[index]:
        index += 1
    return index


def reply_figures(observation: Observation) -> ReplyFigures:
    """Reduce one reply's record to its figures (see the module docstring)."""
    answer = canonical(observation.answer)
    skipped = len(observation.answer) - len(answer)  # leading blank lines, never shown
    emitted = observation.emitted_at[skipped:]
    changes = [c for c in observation.changes if c.text or c.final]
    texts = [c for c in changes if c.text]
    streamed = any(not c.final for c in texts)
    lags: list[float] = []
    streaming: list[float] = []
    shown = final_only = 0
    max_wait: float | None = None
    previous: float | None = None  # when the last text was shown
    for change in changes:
        covered = prefix_length(change.text, answer)
        if covered > shown:
            new = [change.at - emitted[i] for i in range(shown, covered)]
            lags.extend(new)
            if previous is not None:
                streaming.extend(new)
                # New text waits from when it came (or from the previous frame, if it
                # came while that one was being shown) until this frame shows it.
                wait = min(change.at - previous, max(new))
                max_wait = wait if max_wait is None else max(max_wait, wait)
            if change.final and streamed:
                final_only += covered - shown
            shown = covered
        if change.text:
            previous = change.at
    finals = [c for c in changes if c.final]
    end_to_final = None
    if finals and observation.model_end_at is not None:
        end_to_final = finals[0].at - observation.model_end_at
    return ReplyFigures(
        reply_id=observation.reply_id,
        kind=observation.kind,
        long=observation.long,
        calls=observation.calls,
        rejected=observation.rejected,
        closed=observation.closed,
        delivered=observation.delivered,
        streamed=streamed,
        first_visible=texts[0].at - observation.user_at if texts else None,
        end_to_final=end_to_final,
        lags=tuple(lags),
        streaming_lags=tuple(streaming),
        shown_chars=shown,
        final_only_chars=final_only,
        max_wait=max_wait,
    )


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def summarize(
    strategy: str,
    concurrency: int,
    qps: int,
    replies: Sequence[ReplyFigures],
    use: ResourceUse,
) -> StrategyFigures:
    """Pool one strategy's replies (and what the process spent) into a report row."""
    long = [r for r in replies if r.long]
    short = [r for r in replies if not r.long]
    lags = [lag for r in replies for lag in r.lags]
    first = _present(r.first_visible for r in replies)
    ends = _present(r.end_to_final for r in replies)
    waits = _present(r.max_wait for r in replies)
    streamed_chars = sum(r.shown_chars for r in replies if r.streamed)
    final_only = sum(r.final_only_chars for r in replies)
    cpu_per_1000 = use.cpu_seconds / use.chunks * 1000 if use.chunks else None
    grown = max(0, use.peak_rss_bytes - use.baseline_rss_bytes)
    return StrategyFigures(
        strategy=strategy,
        concurrency=concurrency,
        qps=qps,
        replies=len(replies),
        replies_long=len(long),
        replies_short=len(short),
        calls_per_reply=mean([r.calls for r in replies]) or 0.0,
        calls_per_long_reply=mean([r.calls for r in long]),
        calls_per_short_reply=mean([r.calls for r in short]),
        first_visible_p50=percentile(first, 50),
        first_visible_p99=percentile(first, 99),
        lag_p50=percentile(lags, 50),
        lag_p99=percentile(lags, 99),
        end_to_final_p50=percentile(ends, 50),
        end_to_final_p99=percentile(ends, 99),
        floor_seconds=len(replies) / qps,
        rejected=sum(r.rejected for r in replies),
        unclosed=sum(1 for r in replies if not r.closed),
        undelivered=sum(1 for r in replies if not r.delivered),
        final_only_chars=final_only,
        final_only_share=final_only / streamed_chars if streamed_chars else None,
        lag_p99_streaming=percentile([lag for r in replies for lag in r.streaming_lags], 99),
        lag_max=max(lags) if lags else None,
        wait_p50=percentile(waits, 50),
        wait_max=max(waits) if waits else None,
        wall_seconds=use.wall_seconds,
        cpu_seconds=use.cpu_seconds,
        chunks=use.chunks,
        cpu_per_1000_chunks=cpu_per_1000,
        peak_rss_mb=use.peak_rss_bytes / 2**20,
        rss_per_conversation_kb=grown / max(1, concurrency) / 1024,
        call_seconds_p50=use.call_seconds_p50,
    )
