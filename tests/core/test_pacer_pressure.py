"""Tests for bridge.core.pacer's rule 9: under budget pressure a reply is sent once.

The pressure is the budget share the driver sets (``set_budget_interval``); the pacer
holds a reply unopened while that share exceeds both ``oneshot_pressure`` and the time
the answer has run, and opens it as soon as it no longer does.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.actions import Close, Done, Open, SendOnce, Update, Wait
from bridge.core.events import End, LLMEvent, TextDelta, Usage
from bridge.core.frames import normalize
from bridge.core.options import PacingOptions
from bridge.core.pacer import Pacer, Phase
from tests.core.simulation import opens_and_closes, rejoin, simulate

NOTICE = "（回答中断）"
OPTIONS = PacingOptions(
    oneshot_window=1.0,
    oneshot_max_chars=300,
    oneshot_pressure=10.0,
    min_interval=0.8,
    max_idle=2.5,
    failure_notice=NOTICE,
)


def test_a_share_above_the_threshold_holds_the_reply_for_one_send() -> None:
    """Share 50 s > 10 s: no Open at the window's end, even past oneshot_max_chars;
    the end is one SendOnce with the whole text."""
    pacer = Pacer(OPTIONS)
    pacer.set_budget_interval(50.0)
    pacer.feed(TextDelta("x" * 400), 0.0)
    assert pacer.next_action(1.0) == Wait(3.5)  # looked at again after max_idle
    pacer.feed(TextDelta(" and more"), 6.0)
    assert pacer.next_action(6.0) == Wait(8.5)
    assert pacer.phase is Phase.WINDOW
    pacer.feed(End("stop"), 7.0)
    assert pacer.next_action(7.0) == SendOnce("x" * 400 + " and more")
    pacer.update_done(30.0, True)
    assert pacer.next_action(30.0) == Done()


def test_a_share_at_or_below_the_threshold_streams_as_before() -> None:
    """Share 10 s (= oneshot_pressure): the window's end opens the message as always."""
    pacer = Pacer(OPTIONS)
    pacer.set_budget_interval(10.0)
    pacer.feed(TextDelta("Hi"), 0.0)
    assert pacer.held_until(1.0) is None
    assert pacer.next_action(1.0) == Open()


def test_the_reply_opens_when_the_pressure_falls() -> None:
    """Held at 50 s of share; once the share drops under the threshold it opens."""
    pacer = Pacer(OPTIONS)
    pacer.set_budget_interval(50.0)
    pacer.feed(TextDelta("Hi"), 0.0)
    assert isinstance(pacer.next_action(1.0), Wait)
    pacer.set_budget_interval(4.0)
    assert pacer.next_action(3.5) == Open()


def test_a_held_reply_needs_no_wake_for_its_deltas() -> None:
    """``feed`` says when the decision may change: not for a held reply's deltas, nor
    while a call is in flight; the first event, a fall in pressure and the end do."""
    pacer = Pacer(OPTIONS)
    pacer.set_budget_interval(50.0)
    assert pacer.feed(TextDelta("Hi"), 0.0) is True  # the first event starts the window
    assert isinstance(pacer.next_action(1.0), Wait)
    assert pacer.feed(TextDelta(" there"), 1.5) is False  # held: only the end counts
    assert pacer.feed(Usage(3, 2), 1.6) is False
    pacer.set_budget_interval(4.0)
    assert pacer.feed(TextDelta("!"), 2.0) is True  # the pressure fell: it may open
    assert pacer.next_action(2.0) == Open()
    assert pacer.feed(TextDelta(" x"), 2.1) is False  # the open is in flight
    pacer.update_done(2.2, True)
    assert pacer.feed(TextDelta(" y"), 2.3) is True  # streaming: growth counts
    assert pacer.feed(End("stop"), 2.4) is True
    assert pacer.feed(TextDelta("late"), 2.5) is False  # after the end: ignored


def test_a_reply_that_outruns_the_share_opens() -> None:
    """Share 15 s: an answer still running after 15 s is a long one; it opens then."""
    pacer = Pacer(OPTIONS)
    pacer.set_budget_interval(15.0)
    pacer.feed(TextDelta("Hi"), 2.0)
    assert pacer.next_action(3.0) == Wait(5.5)
    assert pacer.next_action(15.0) == Wait(17.0)  # first event + share
    assert pacer.next_action(17.0) == Open()


def test_a_failure_while_held_is_one_send_with_the_notice() -> None:
    """The model fails while the reply is held: one SendOnce of partial text + notice."""
    pacer = Pacer(OPTIONS)
    pacer.set_budget_interval(50.0)
    pacer.feed(TextDelta("partial"), 0.0)
    assert isinstance(pacer.next_action(2.0), Wait)
    pacer.fail(3.0, "boom")
    action = pacer.next_action(3.0)
    assert isinstance(action, SendOnce)
    assert action.text == f"partial\n\n{NOTICE}"


def test_an_open_message_keeps_streaming_and_closes_when_pressure_rises() -> None:
    """Pressure after the open changes nothing but the interval: updates, then the close."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Hello there, "), 0.0)
    assert pacer.next_action(1.0) == Open()
    pacer.update_done(1.0, True)
    pacer.set_budget_interval(50.0)
    assert pacer.next_action(1.0) == Update("Hello there,")
    pacer.update_done(1.1, True)
    pacer.feed(TextDelta("world"), 2.0)
    assert pacer.next_action(2.0) == Wait(51.0)  # the share is the interval now
    pacer.feed(End("stop"), 3.0)
    assert pacer.next_action(3.0) == Close("Hello there, world", ok=True)


def test_a_short_answer_is_one_call_whatever_the_pressure() -> None:
    """Inside the window the pressure is never consulted: one SendOnce."""
    for share in (0.0, 5.0, 500.0):
        pacer = Pacer(OPTIONS)
        pacer.set_budget_interval(share)
        pacer.feed(TextDelta("Hi"), 0.0)
        pacer.feed(End("stop"), 0.5)
        assert pacer.next_action(0.5) == SendOnce("Hi")


_DELTAS = st.lists(st.text("ab 字。\n`|", min_size=1, max_size=20), min_size=1, max_size=60)


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[tuple[float, LLMEvent]], str, list[float], float]:
    """Timed events, the model's text, a share that changes every 2 s, a threshold."""
    deltas = draw(_DELTAS)
    gaps = draw(st.lists(st.floats(0.0, 1.5), min_size=len(deltas), max_size=len(deltas)))
    events: list[tuple[float, LLMEvent]] = []
    now = 0.0
    for delta, gap in zip(deltas, gaps, strict=True):
        events.append((now, TextDelta(delta)))
        now += gap
    events.append((now, End("stop")))
    shares = draw(st.lists(st.sampled_from([0.0, 2.0, 9.0, 12.0, 40.0]), min_size=1, max_size=30))
    threshold = draw(st.sampled_from([1.0, 5.0, 10.0]))
    return events, "".join(deltas), shares, threshold


@settings(max_examples=200, deadline=None)
@given(run=runs(), round_trip=st.floats(0.0, 2.0))
def test_pressure_picks_the_path_and_every_opened_message_closes(
    run: tuple[list[tuple[float, LLMEvent]], str, list[float], float], round_trip: float
) -> None:
    """Any pressure over time: a message opens only when the share is at most
    max(threshold, time run); every open is closed; the text arrives whole either way;
    a share above both throughout means exactly one call."""
    events, text, shares, threshold = run
    options = replace(OPTIONS, oneshot_pressure=threshold)

    def share(now: float) -> float:
        return shares[min(int(now // 2), len(shares) - 1)]

    trace = simulate(options, events, (round_trip,), budget=share)
    expected = normalize(text) or NOTICE
    first = events[0][0]
    for at, call in trace.calls:
        if isinstance(call, Open):
            assert share(at) <= max(threshold, at - first)
    if trace.of(Open):
        opened, closed = opens_and_closes(trace)
        assert opened == closed
        rejoin(trace, expected)
    else:
        assert [call for _, call in trace.calls] == [SendOnce(expected)]
    end = events[-1][0]
    if all(share(t) > max(threshold, end - first) for t in _instants(end)):
        assert len(trace.calls) == 1


def _instants(end: float) -> list[float]:
    """Every 2 s step of the share up to ``end``, and ``end``."""
    return [2.0 * i for i in range(int(end // 2) + 1)] + [end]
