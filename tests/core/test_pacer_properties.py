"""Property tests of the pacing core: the "done when" invariants, any deltas, any timing.

Each example drives a Pacer through tests.core.simulation with random delta texts
(code fences, tables, CJK, CR/LF), random gaps between them, random call round trips
and, for the last property, a failure or cancellation at a random moment.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.actions import Close, Open, SendOnce, Split, Update
from bridge.core.events import End, LLMEvent, ReasoningDelta, TextDelta
from bridge.core.frames import canonical, normalize
from bridge.core.options import PacingOptions
from tests.core.simulation import opens_and_closes, rejoin, simulate

NOTICE = "（回答中断）"
SETTINGS = settings(max_examples=150, deadline=None)

_SNIPPETS = st.sampled_from(
    [
        "\n",
        "\n\n",
        "\r\n",
        "```python\n",
        "\n```\n",
        "~~~\n",
        "| a | b |\n|---|---|\n",
        "| 1 |",
        "这是中文的句子。",
        "word ",
        "x" * 150,
        "  ",
    ]
)
_DELTA = st.one_of(_SNIPPETS, st.text("ab 字。\n`|~#*", min_size=1, max_size=30))


@st.composite
def streams(
    draw: st.DrawFn, reasoning: bool = False, min_deltas: int = 1
) -> tuple[list[tuple[float, LLMEvent]], str]:
    """Timed events ending in End, and the model's visible text."""
    deltas = draw(st.lists(_DELTA, min_size=min_deltas, max_size=max(40, min_deltas * 2)))
    gaps = draw(st.lists(st.floats(0.0, 1.5), min_size=len(deltas) + 1, max_size=len(deltas) + 1))
    events: list[tuple[float, LLMEvent]] = []
    now = 0.0
    for delta, gap in zip(deltas, gaps, strict=False):
        if reasoning and draw(st.booleans()):
            events.append((now, ReasoningDelta(delta)))
        else:
            events.append((now, TextDelta(delta)))
        now += gap
    events.append((now, End("stop")))
    text = "".join(e.text for _, e in events if isinstance(e, TextDelta))
    return events, text


_OPTIONS = st.builds(
    PacingOptions,
    oneshot_window=st.sampled_from([0.0, 0.5, 1.0]),
    oneshot_max_chars=st.sampled_from([50, 300]),
    min_interval=st.sampled_from([0.3, 0.8]),
    min_growth=st.sampled_from([1, 8]),
    max_idle=st.sampled_from([1.0, 2.5]),
    message_limit_chars=st.sampled_from([200, 200, 350, 3000]),
    cursor=st.sampled_from(["", "▍"]),
    reasoning=st.just("hidden"),
    failure_notice=st.just(NOTICE),
)
_ROUND_TRIPS = st.lists(st.floats(0.0, 2.0), min_size=1, max_size=5)


@SETTINGS
@given(
    stream=st.one_of(streams(reasoning=True), streams(min_deltas=30)),
    options=_OPTIONS,
    round_trips=_ROUND_TRIPS,
)
def test_the_closed_text_is_the_model_text(
    stream: tuple[list[tuple[float, LLMEvent]], str],
    options: PacingOptions,
    round_trips: list[float],
) -> None:
    """The reply's messages rejoin to normalize(model text), each within the limit."""
    events, text = stream
    trace = simulate(options, events, round_trips)
    expected = normalize(text) or NOTICE
    sent = trace.of(SendOnce)
    if sent:
        assert sent == [SendOnce(expected)]
    else:
        rejoin(trace, expected)
    limit = options.message_limit_chars
    assert all(len(m) <= limit for m in trace.messages())
    assert all(isinstance(u, Update) and len(u.text) <= limit for u in trace.of(Update))


@SETTINGS
@given(
    stream=st.one_of(streams(), streams(min_deltas=30)),
    options=_OPTIONS,
    round_trips=_ROUND_TRIPS,
    budget=st.floats(0.0, 3.0),
)
def test_updates_stay_under_the_interval_bound(
    stream: tuple[list[tuple[float, LLMEvent]], str],
    options: PacingOptions,
    round_trips: list[float],
    budget: float,
) -> None:
    """Updates while streaming ≤ ⌈duration / min_interval⌉ + 1, whatever the timing."""
    events, _ = stream
    trace = simulate(options, events, round_trips, budget=budget)
    assert trace.ended_at is not None
    assert trace.first_event_at is not None
    duration = trace.ended_at - trace.first_event_at
    assert trace.streaming_calls <= math.ceil(duration / options.min_interval) + 1
    assert len(trace.of(Update)) <= options.max_updates_per_reply


@SETTINGS
@given(stream=streams(), options=_OPTIONS, round_trips=_ROUND_TRIPS)
def test_a_reply_inside_the_window_is_one_send_once(
    stream: tuple[list[tuple[float, LLMEvent]], str],
    options: PacingOptions,
    round_trips: list[float],
) -> None:
    """A stream that ends inside the window (time and size) is exactly one SendOnce."""
    events, text = stream
    end_at = events[-1][0]
    inside = end_at < events[0][0] + options.oneshot_window
    if not inside or len(canonical(text)) > options.oneshot_max_chars:
        return
    trace = simulate(options, events, round_trips)
    assert [call for _, call in trace.calls] == [SendOnce(normalize(text) or NOTICE)]


@SETTINGS
@given(
    stream=st.one_of(streams(), streams(min_deltas=30)),
    options=_OPTIONS,
    round_trips=_ROUND_TRIPS,
    fail_at=st.floats(0.0, 30.0),
    cancel=st.booleans(),
    failing_updates=st.lists(st.booleans(), min_size=1, max_size=4),
)
def test_every_open_has_a_close(
    stream: tuple[list[tuple[float, LLMEvent]], str],
    options: PacingOptions,
    round_trips: list[float],
    fail_at: float,
    cancel: bool,
    failing_updates: list[bool],
) -> None:
    """Failure or cancellation at any moment: every opened message gets exactly one close."""
    events, _ = stream
    trace = simulate(
        options,
        events,
        round_trips,
        fail_at=fail_at,
        cancel=cancel,
        failing_updates=failing_updates,
    )
    calls = [call for _, call in trace.calls]
    if trace.of(Open):
        opened, closed = opens_and_closes(trace)
        assert opened == closed
        assert isinstance(calls[-1], Close)
        assert not trace.of(SendOnce)
        failed = trace.ended_at is None or fail_at < trace.ended_at
        if failed:
            assert calls[-1] == Close(calls[-1].text, ok=False)
            assert calls[-1].text.endswith(NOTICE)
    else:
        assert len(calls) == 1
        assert isinstance(calls[0], SendOnce)
    assert all(not isinstance(c, Split) or c.part for c in calls)
