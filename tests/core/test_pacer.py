"""Tests for bridge.core.pacer: each pacing rule of design.md §3 with a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.core.actions import Close, Done, Open, SendOnce, Split, Update, Wait
from bridge.core.events import End, ReasoningDelta, TextDelta, Usage
from bridge.core.options import PacingOptions
from bridge.core.pacer import MAX_UPDATE_FAILURES, Pacer, PacingError, Phase
from bridge.core.transcript import THINKING_TITLE
from tests.core.simulation import rejoin, simulate

NOTICE = "（回答中断）"
OPTIONS = PacingOptions(
    oneshot_window=1.0,
    oneshot_max_chars=300,
    min_interval=0.8,
    min_growth=8,
    max_idle=2.5,
    failure_notice=NOTICE,
)


def opened(options: PacingOptions = OPTIONS, text: str = "Hello there, ") -> Pacer:
    """A pacer past its window with its message open, at t=1.0."""
    pacer = Pacer(options)
    pacer.feed(TextDelta(text), 0.0)
    assert pacer.next_action(1.0) == Open()
    pacer.update_done(1.0, True)
    return pacer


def test_a_reply_inside_the_window_is_sent_once() -> None:
    """Text and end within the window: one SendOnce with the whole text, then Done."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Hi"), 0.0)
    assert pacer.next_action(0.1) == Wait(1.0)
    pacer.feed(TextDelta(" there\n"), 0.5)
    pacer.feed(End("stop"), 0.6)
    assert pacer.next_action(0.6) == SendOnce("Hi there")
    assert pacer.next_action(0.6) == Wait(None)
    pacer.update_done(0.7, True)
    assert pacer.next_action(0.7) == Done()
    assert pacer.phase is Phase.DONE


def test_nothing_happens_before_the_first_event() -> None:
    """The window starts with the first event, so an idle pacer waits for one."""
    assert Pacer(OPTIONS).next_action(50.0) == Wait(None)


def test_a_reply_inside_the_window_over_the_message_limit_is_still_one_send() -> None:
    """Ended inside the window but longer than a message: one SendOnce (sent in pieces)."""
    options = replace(OPTIONS, message_limit_chars=200)
    text = "x" * 300
    pacer = Pacer(options)
    pacer.feed(TextDelta(text), 0.0)
    pacer.feed(End("stop"), 0.0)
    assert pacer.next_action(0.0) == SendOnce(text)


def test_the_window_passing_opens_the_message() -> None:
    """Once the window is over the message opens, with no text of its own."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Hi"), 2.0)
    assert pacer.next_action(2.5) == Wait(3.0)
    assert pacer.next_action(3.0) == Open()
    assert pacer.phase is Phase.OPENING


def test_outgrowing_the_oneshot_size_opens_early() -> None:
    """More than oneshot_max_chars inside the window opens at once."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("x" * 301), 0.0)
    assert pacer.next_action(0.1) == Open()


def test_single_flight_while_a_call_runs() -> None:
    """While a call is in flight every answer is Wait(None), whatever arrives."""
    pacer = opened()
    assert pacer.next_action(1.0) == Update("Hello there,")
    pacer.feed(TextDelta("a lot more text arrives meanwhile"), 1.1)
    assert pacer.next_action(5.0) == Wait(None)
    pacer.update_done(5.0, True)
    assert pacer.next_action(5.0) == Update("Hello there, a lot more text arrives meanwhile")


def test_an_update_waits_for_the_interval_and_growth() -> None:
    """Growth below min_growth waits for max_idle; enough growth waits for min_interval."""
    pacer = opened()
    assert pacer.next_action(1.0) == Update("Hello there,")
    pacer.update_done(1.1, True)
    pacer.feed(TextDelta("ok"), 1.2)
    assert pacer.next_action(1.2) == Wait(1.0 + 2.5)
    pacer.feed(TextDelta(" and then some"), 1.3)
    assert pacer.next_action(1.3) == Wait(1.0 + 0.8)
    assert pacer.next_action(1.8) == Update("Hello there, ok and then some")


def test_max_idle_shows_a_stalled_small_growth() -> None:
    """A stall with a little new text still shows it once max_idle has passed."""
    pacer = opened()
    pacer.next_action(1.0)
    pacer.update_done(1.1, True)
    pacer.feed(TextDelta("ok"), 1.2)
    assert pacer.next_action(3.5) == Update("Hello there, ok")


def test_the_round_trip_stretches_the_interval() -> None:
    """A slow platform spaces update starts by its smoothed round trip, not min_interval."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Hello there, "), 0.0)
    assert pacer.next_action(1.0) == Open()
    pacer.update_done(3.0, True)  # a 2 s round trip
    assert pacer.next_action(3.0) == Update("Hello there,")
    pacer.update_done(3.1, True)  # then a quick one: the average stays high
    assert pacer.interval == pytest.approx(2.0 + 0.3 * (0.1 - 2.0))
    pacer.feed(TextDelta("more and more text"), 3.2)
    assert pacer.next_action(3.2) == Wait(3.0 + pacer.interval)


def test_the_budget_share_stretches_the_interval() -> None:
    """A tight shared rate budget makes this message's interval longer."""
    pacer = opened()
    pacer.set_budget_interval(3.0)
    pacer.next_action(1.0)
    pacer.update_done(1.0, True)
    pacer.feed(TextDelta("more and more text"), 1.5)
    assert pacer.next_action(1.5) == Wait(4.0)


def test_max_updates_caps_the_updates_but_not_the_close() -> None:
    """After max_updates_per_reply updates only the close goes out, with all the text."""
    options = replace(OPTIONS, max_updates_per_reply=2)
    events = [(i * 1.0, TextDelta(f"chunk number {i} ")) for i in range(10)]
    trace = simulate(options, [*events, (10.0, End("stop"))])
    assert len(trace.of(Update)) == 2
    assert trace.of(Close) == [Close(" ".join(f"chunk number {i}" for i in range(10)), True)]


def test_repeated_update_failures_stop_updating() -> None:
    """Three failed updates in a row: no more updates, the close still carries everything."""
    events = [(i * 1.0, TextDelta(f"chunk number {i} ")) for i in range(10)]
    trace = simulate(OPTIONS, [*events, (10.0, End("stop"))], failing_updates=(True,))
    assert len(trace.of(Update)) == MAX_UPDATE_FAILURES
    assert trace.of(Close) == [Close(" ".join(f"chunk number {i}" for i in range(10)), True)]


def test_a_failed_update_is_repeated_with_the_full_text() -> None:
    """A dropped update is repaired by the next one (the same full text goes again)."""
    pacer = opened()
    assert pacer.next_action(1.0) == Update("Hello there,")
    pacer.update_done(1.1, False)
    assert pacer.next_action(1.8) == Update("Hello there,")


def test_failure_before_opening_sends_partial_text_and_notice() -> None:
    """A source error in the window: one SendOnce of the partial text plus the notice."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Partial ```py\nx = 1"), 0.0)
    pacer.fail(0.2, "boom")
    assert pacer.next_action(0.2) == SendOnce(f"Partial ```py\nx = 1\n\n{NOTICE}")
    assert pacer.failure == "boom"
    assert not pacer.ok


def test_failure_with_nothing_sends_the_notice() -> None:
    """A source error before any text: the notice alone."""
    pacer = Pacer(OPTIONS)
    pacer.fail(0.0, "boom")
    assert pacer.next_action(0.0) == SendOnce(NOTICE)


def test_failure_after_opening_closes_with_partial_text_and_notice() -> None:
    """A source error while streaming closes the message, ok=False, code fence closed."""
    pacer = opened(text="See:\n```\ncode")
    pacer.fail(1.5, "timeout")
    assert pacer.next_action(1.5) == Close(f"See:\n```\ncode\n```\n\n{NOTICE}", ok=False)


def test_failure_while_opening_closes_once_the_open_returns() -> None:
    """A failure during the open waits for it, then closes the message."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Hello"), 0.0)
    assert pacer.next_action(1.0) == Open()
    pacer.fail(1.1, "cancelled")
    assert pacer.next_action(1.1) == Wait(None)
    pacer.update_done(1.2, False)
    assert pacer.next_action(1.2) == Close(f"Hello\n\n{NOTICE}", ok=False)


def test_failure_after_the_end_is_ignored() -> None:
    """Once the model finished, the text is complete and the close says ok."""
    pacer = opened()
    pacer.feed(End("stop"), 1.0)
    pacer.fail(1.0, "cancelled")
    assert pacer.next_action(1.0) == Close("Hello there,", ok=True)


def test_an_empty_answer_sends_the_notice() -> None:
    """A model that says nothing visible gets the notice, not an empty message."""
    pacer = Pacer(OPTIONS)
    pacer.feed(Usage(3, 0), 0.0)
    pacer.feed(End("stop"), 0.1)
    assert pacer.next_action(0.1) == SendOnce(NOTICE)
    assert not pacer.ok


def test_events_after_the_end_are_ignored() -> None:
    """Nothing after End changes the reply."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("a"), 0.0)
    pacer.feed(End("stop"), 0.0)
    pacer.feed(TextDelta("b"), 0.0)
    assert pacer.next_action(0.0) == SendOnce("a")


def test_the_cursor_is_shown_while_streaming_but_never_closed_with() -> None:
    """Intermediate frames end with the cursor; the close text does not."""
    options = replace(OPTIONS, cursor="▍")
    pacer = opened(options)
    assert pacer.next_action(1.0) == Update("Hello there,▍")
    pacer.update_done(1.0, True)
    pacer.feed(End("stop"), 1.0)
    assert pacer.next_action(1.0) == Close("Hello there,", ok=True)


def test_a_long_message_splits_into_a_continued_one() -> None:
    """Past the limit the message closes at a boundary and updates carry the new text."""
    options = replace(OPTIONS, message_limit_chars=200)
    pacer = opened(options, text="p" * 150 + "\n\n")
    pacer.next_action(1.0)
    pacer.update_done(1.0, True)
    pacer.feed(TextDelta("q" * 100), 1.5)
    split = pacer.next_action(1.8)
    assert split == Split(close_text="p" * 150, part="p" * 150 + "\n\n", continued="")
    pacer.update_done(1.9, True)
    pacer.feed(TextDelta(" tail"), 2.0)
    assert pacer.next_action(2.6) == Update("q" * 100 + " tail")
    assert pacer.splits == 1


def test_a_long_code_block_is_closed_and_reopened_across_messages() -> None:
    """The finished message closes its fence; the continued one reopens it."""
    options = replace(OPTIONS, message_limit_chars=200)
    code = "```sh\n" + "".join(f"echo line {i}\n" for i in range(40)) + "```\n"
    trace = simulate(options, [(0.0, TextDelta(code)), (5.0, End("stop"))])
    splits = trace.of(Split)
    assert splits
    assert all(isinstance(s, Split) and s.continued == "```sh\n" for s in splits)
    assert all(len(m) <= 200 and m.count("```") % 2 == 0 for m in trace.messages())
    rejoin(trace, code.rstrip())


def test_quoted_reasoning_shows_while_thinking_and_leaves_the_close() -> None:
    """The thinking block is a frame of its own; the close has only the answer."""
    pacer = Pacer(OPTIONS)
    pacer.feed(ReasoningDelta("Let me see"), 0.0)
    assert pacer.next_action(1.0) == Open()
    pacer.update_done(1.0, True)
    assert pacer.next_action(1.0) == Update(f"{THINKING_TITLE}\n> Let me see")
    pacer.update_done(1.0, True)
    pacer.feed(TextDelta("It is 4."), 1.2)
    pacer.feed(End("stop"), 1.3)
    assert pacer.next_action(1.3) == Close("It is 4.", ok=True)


def test_hidden_reasoning_sends_no_empty_updates() -> None:
    """While a hidden reasoning runs the open message is left alone."""
    options = replace(OPTIONS, reasoning="hidden")
    pacer = Pacer(options)
    pacer.feed(ReasoningDelta("Let me see"), 0.0)
    assert pacer.next_action(1.0) == Open()
    pacer.update_done(1.0, True)
    assert pacer.next_action(9.0) == Wait(None)


def test_update_done_without_a_call_is_a_driver_bug() -> None:
    """Reporting a call that was never asked for raises PacingError."""
    with pytest.raises(PacingError, match="without a call"):
        Pacer(OPTIONS).update_done(0.0, True)
