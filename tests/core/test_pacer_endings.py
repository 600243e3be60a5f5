"""Tests for bridge.core.pacer's rules 10 and 11: the placeholder, and honest endings.

Rule 10: a pacer told when its reply started opens the message with the placeholder
when nothing has arrived by the end of the one-shot window (a quick answer still goes
out once; under budget pressure nothing opens). Rule 11: an answer cut at the token
limit, or stopped by the user, closes finished with its mark; a failure carries its
own notice.
"""

from __future__ import annotations

from dataclasses import replace

from bridge.core.actions import Close, Done, Open, SendOnce, Update, Wait
from bridge.core.endings import Ending
from bridge.core.events import End, ReasoningDelta, TextDelta
from bridge.core.options import PacingOptions
from bridge.core.pacer import Pacer, Phase

OPTIONS = PacingOptions(
    oneshot_window=1.0,
    oneshot_max_chars=300,
    oneshot_pressure=10.0,
    min_interval=0.8,
    min_growth=8,
    max_idle=2.5,
    failure_notice="（回答中断）",
    placeholder="思考中…",
    length_notice="（已截断）",
    stopped_notice="（已停止）",
)


def live(pacer: Pacer, now: float) -> None:
    """Perform the call the pacer asks for at ``now`` and report it done."""
    action = pacer.next_action(now)
    assert not isinstance(action, Wait | Done), action
    pacer.update_done(now, True)


# -- rule 10: the placeholder ------------------------------------------------------------


def test_nothing_by_the_window_end_opens_with_the_placeholder() -> None:
    """No event by started + window: Open, then the placeholder as the first update."""
    pacer = Pacer(OPTIONS, started_at=0.0)
    assert pacer.next_action(0.2) == Wait(1.0)
    assert pacer.next_action(1.0) == Open()
    pacer.update_done(1.1, True)
    assert pacer.next_action(1.1) == Update("思考中…")
    pacer.update_done(1.2, True)
    assert pacer.next_action(2.0) == Wait(None)  # nothing new: the placeholder stays


def test_text_replacing_the_placeholder_goes_out_after_one_interval() -> None:
    """A first word shorter than min_growth still replaces the placeholder promptly."""
    pacer = Pacer(OPTIONS, started_at=0.0)
    live(pacer, 1.0)  # open
    live(pacer, 1.0)  # placeholder
    pacer.feed(TextDelta("好"), 3.0)
    assert pacer.next_action(3.0) == Update("好")
    pacer.update_done(3.1, True)
    pacer.feed(TextDelta("的。"), 3.2)
    pacer.feed(End("stop"), 3.3)
    assert pacer.next_action(3.3) == Close("好的。", ok=True)


def test_a_quick_short_answer_is_still_one_send() -> None:
    """First token within the window and an early end: one SendOnce, no placeholder."""
    pacer = Pacer(OPTIONS, started_at=0.0)
    pacer.feed(TextDelta("Hi"), 0.6)
    assert pacer.next_action(1.0) == Wait(1.6)  # the window runs from the first token
    pacer.feed(End("stop"), 1.2)
    assert pacer.next_action(1.2) == SendOnce("Hi")


def test_a_first_token_inside_the_start_window_opens_no_placeholder() -> None:
    """Text before started + window: the old rule (window from the first event) holds."""
    pacer = Pacer(OPTIONS, started_at=0.0)
    pacer.feed(TextDelta("Hello there, friend"), 0.9)
    assert pacer.next_action(1.0) == Wait(1.9)
    assert pacer.next_action(1.9) == Open()
    pacer.update_done(1.9, True)
    assert pacer.next_action(1.9) == Update("Hello there, friend")


def test_no_start_time_or_an_empty_placeholder_waits_silently() -> None:
    """Without started_at, or with placeholder "", nothing happens before an event."""
    assert Pacer(OPTIONS).next_action(50.0) == Wait(None)
    quiet = Pacer(replace(OPTIONS, placeholder=""), started_at=0.0)
    assert quiet.next_action(50.0) == Wait(None)


def test_hidden_reasoning_shows_the_placeholder_once_open() -> None:
    """A hidden reasoning has started the window; the opened message shows the placeholder."""
    pacer = Pacer(replace(OPTIONS, reasoning="hidden"), started_at=0.0)
    pacer.feed(ReasoningDelta("hmm"), 0.2)
    assert pacer.next_action(1.2) == Open()
    pacer.update_done(1.2, True)
    assert pacer.next_action(1.2) == Update("思考中…")


def test_budget_pressure_wins_over_the_placeholder() -> None:
    """Share 50 s: nothing opens at the window's end, the answer is one SendOnce."""
    pacer = Pacer(OPTIONS, started_at=0.0)
    pacer.set_budget_interval(50.0)
    assert pacer.next_action(1.0) == Wait(3.5)  # held, looked at again after max_idle
    assert pacer.phase is Phase.WINDOW
    pacer.feed(TextDelta("slow but short"), 3.0)
    pacer.feed(End("stop"), 3.5)
    assert pacer.next_action(3.5) == SendOnce("slow but short")


def test_the_placeholder_opens_once_the_pressure_falls() -> None:
    """Held under pressure with nothing arrived; when the share falls it opens."""
    pacer = Pacer(OPTIONS, started_at=0.0)
    pacer.set_budget_interval(50.0)
    assert isinstance(pacer.next_action(1.0), Wait)
    pacer.set_budget_interval(2.0)
    assert pacer.next_action(3.5) == Open()


# -- rule 11: endings ---------------------------------------------------------------------


def test_a_length_cut_answer_closes_finished_with_its_mark() -> None:
    """finish_reason "length": the text, then the cut mark; the ending says CUT."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("A long answer that"), 0.0)
    live(pacer, 1.0)  # open
    live(pacer, 1.0)  # update
    pacer.feed(End("length"), 2.0)
    assert pacer.next_action(2.0) == Close("A long answer that\n\n（已截断）", ok=True)
    assert pacer.ending is Ending.CUT
    assert pacer.ok


def test_a_length_cut_answer_in_the_window_is_one_send_with_its_mark() -> None:
    """Cut inside the window: one SendOnce with the mark."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Short"), 0.0)
    pacer.feed(End("length"), 0.1)
    assert pacer.next_action(0.1) == SendOnce("Short\n\n（已截断）")


def test_a_normal_end_has_no_mark() -> None:
    """finish_reason "stop": the text exactly, ending COMPLETE."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Done."), 0.0)
    pacer.feed(End("stop"), 0.1)
    assert pacer.next_action(0.1) == SendOnce("Done.")
    assert pacer.ending is Ending.COMPLETE


def test_a_stop_closes_the_open_message_finished_with_the_stop_mark() -> None:
    """Stopped while streaming: Close(text so far + mark, ok=True); later text ignored."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Part of it"), 0.0)
    live(pacer, 1.0)
    live(pacer, 1.0)
    pacer.stop(1.5)
    pacer.feed(TextDelta(" and more"), 1.6)
    assert pacer.next_action(1.6) == Close("Part of it\n\n（已停止）", ok=True)
    assert pacer.ending is Ending.STOPPED
    assert pacer.final_text == "Part of it\n\n（已停止）"


def test_a_stop_waits_for_the_call_in_flight_then_closes() -> None:
    """Single flight holds: the close comes right after the update in flight returns."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Part of it"), 0.0)
    live(pacer, 1.0)
    assert isinstance(pacer.next_action(1.0), Update)
    pacer.stop(1.1)
    assert pacer.next_action(1.1) == Wait(None)
    pacer.update_done(1.3, True)
    assert pacer.next_action(1.3) == Close("Part of it\n\n（已停止）", ok=True)


def test_a_stop_in_the_window_with_text_is_one_send() -> None:
    """Stopped while held in the window: one SendOnce of the text + mark."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Begin"), 0.0)
    pacer.stop(0.3)
    assert pacer.next_action(0.3) == SendOnce("Begin\n\n（已停止）")


def test_a_stop_before_anything_was_said_sends_nothing() -> None:
    """Stopped with no text: Done at once, no call; still ok (the user asked for it)."""
    pacer = Pacer(OPTIONS, started_at=0.0)
    pacer.stop(0.2)
    assert pacer.next_action(0.2) == Done()
    assert pacer.ok
    assert pacer.ending is Ending.STOPPED


def test_a_stop_after_the_end_changes_nothing() -> None:
    """The model finished first: the answer is complete, the stop is ignored."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("All"), 0.0)
    pacer.feed(End("stop"), 0.1)
    pacer.stop(0.2)
    assert pacer.next_action(0.2) == SendOnce("All")
    assert pacer.ending is Ending.COMPLETE


def test_a_failure_carries_its_own_notice() -> None:
    """fail(notice=…) closes with that notice instead of failure_notice."""
    pacer = Pacer(OPTIONS)
    pacer.feed(TextDelta("Half"), 0.0)
    live(pacer, 1.0)
    live(pacer, 1.0)
    pacer.fail(1.5, "timed out", notice="（模型超时）")
    assert pacer.next_action(1.5) == Close("Half\n\n（模型超时）", ok=False)
    assert pacer.ending is Ending.FAILED
    pacer.stop(1.6)  # too late: the failure came first
    assert pacer.ending is Ending.FAILED
