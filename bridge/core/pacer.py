"""The pacing core: turns one reply's LLM events into surface calls (design.md §3).

Sans-I/O, like h11 or openai's stream accumulator: synchronous, deterministic, no clock
of its own (every method takes ``now``), no network. The relay (``bridge.delivery.relay``)
feeds it events and performs the actions it asks for; tests drive it with a fake clock.

The rules it enforces, in the order of design.md §3:

1. one-shot window: output is held until ``oneshot_window`` has passed since the first
   event or the text outgrew ``oneshot_max_chars``; a reply that ends before either is one
   ``SendOnce``;
2. single flight, latest wins: while a call is in flight the answer is ``Wait(None)``;
   every ``Update`` carries the full text of the message, so deltas merge meanwhile;
3. an ``Update`` goes out when the interval has passed since the last one started and the
   frame grew by ``min_growth``, or ``max_idle`` has passed with any change; the interval
   is the largest of ``min_interval``, the measured round trip (an EWMA) and the budget's
   fair share (``set_budget_interval``);
4. trailing flush: the close carries the complete text, ``normalize``d like every frame;
5. ``max_updates_per_reply`` caps the updates (the close and splits are always sent);
   three failed updates in a row stop updating until the close;
6. frames are ``safe_frame``s; a message that outgrows ``message_limit_chars`` is split
   into a continued one at a ``split_point``;
7. reasoning is hidden, quoted while thinking or kept (``bridge.core.transcript``);
8. always closed: ``fail`` (source error, timeout, cancellation) turns into a
   ``SendOnce`` of partial text + notice when nothing was opened, or a ``Close(ok=False)``;
9. budget pressure: when the rate budget is the bottleneck a reply is not opened at all
   but held for one ``SendOnce`` (``held_until``), see below;
10. no silent wait: given ``started_at``, when nothing has arrived by ``started_at +
    oneshot_window`` the message opens showing ``placeholder`` ("" disables; under
    budget pressure rule 9 wins and nothing opens);
11. endings (``bridge.core.endings``): cut at the token limit or ``stop``ped, the text
    closes finished with its mark (a stop before anything showed sends nothing).

Why rule 9: the budget's fair share per message (``set_budget_interval``: the time
until every live message has had one call) is also how long an opened message waits
for the call that first shows text. Once that is longer than the answer still has to
run, opening buys the user nothing (the text comes with the final call anyway) and
spends a call every other conversation waits for; so while the share exceeds both
``oneshot_pressure`` and the time the answer has run so far (an answer that has run
``t`` seconds is taken to need about as long again), the reply stays in the one-shot
path, whatever its length. Re-checked at every event and every ``max_idle``: when the
pressure falls the reply opens and streams. A message once opened is never abandoned.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from bridge.core.actions import Action, Call, Close, Done, Open, SendOnce, Split, Update, Wait
from bridge.core.endings import Ending, EndState
from bridge.core.events import End, LLMEvent, ReasoningDelta, TextDelta, Usage
from bridge.core.frames import normalize, safe_frame, split_point, with_notice
from bridge.core.options import PacingOptions
from bridge.core.transcript import Transcript

__all__ = ["Pacer", "PacingError", "Phase"]

_C = TypeVar("_C", SendOnce, Open, Update, Split, Close)

# Consecutive failed updates after which the message is left alone until its close.
MAX_UPDATE_FAILURES = 3
# Weight of the newest round-trip sample in the moving average.
RTT_WEIGHT = 0.3


class PacingError(Exception):
    """The pacer was driven out of order (a bug in its driver, never a user error)."""


class Phase(StrEnum):
    """Where one reply stands."""

    WINDOW = "window"
    SENDING_ONCE = "sending_once"
    OPENING = "opening"
    LIVE = "live"
    CLOSING = "closing"
    DONE = "done"


_NEXT: dict[Phase, frozenset[Phase]] = {
    # WINDOW → DONE: stopped before anything was shown.
    Phase.WINDOW: frozenset({Phase.SENDING_ONCE, Phase.OPENING, Phase.DONE}),
    Phase.SENDING_ONCE: frozenset({Phase.DONE}),
    Phase.OPENING: frozenset({Phase.LIVE}),
    Phase.LIVE: frozenset({Phase.CLOSING}),
    Phase.CLOSING: frozenset({Phase.DONE}),
    Phase.DONE: frozenset(),
}


class Pacer:
    """The pacing state of one reply; see the module docstring for the rules."""

    def __init__(self, options: PacingOptions, *, started_at: float | None = None) -> None:
        self._options = options
        self._limit = options.message_limit_chars
        self._transcript = Transcript(options.reasoning)
        self._started_at = started_at
        # Rule 10 needs to know when the reply started; without it, no placeholder.
        self._placeholder = options.placeholder if started_at is not None else ""
        self._showing_placeholder = False
        self._end = EndState()
        # Not clamped to the message limit: a quick answer longer than one message is
        # still sent once, in consecutive pieces, rather than streamed and split.
        self._oneshot_chars = options.oneshot_max_chars
        self._phase = Phase.WINDOW
        self._first_at: float | None = None
        self._in_flight: Call | None = None
        self._call_at = 0.0
        self._last_update_at: float | None = None
        self._last_frame = ""
        self._offset = 0  # characters of the document held by finished (split) messages
        self._reopen = ""  # what the current message starts with (a reopened fence)
        self._updates = 0
        self._splits = 0
        self._failures = 0
        self._rtt: float | None = None
        self._budget = 0.0

    # -- what the driver reads ---------------------------------------------------------

    @property
    def phase(self) -> Phase:
        """Where the reply stands."""
        return self._phase

    @property
    def updates(self) -> int:
        """Updates asked for so far (the count ``max_updates_per_reply`` caps)."""
        return self._updates

    @property
    def splits(self) -> int:
        """Continued messages started so far."""
        return self._splits

    @property
    def failure(self) -> str | None:
        """Why the reply failed, once ``fail`` was called."""
        return self._end.failure

    @property
    def ok(self) -> bool:
        """True unless the reply failed, or said nothing visible and was not stopped."""
        if self._end.failure is not None:
            return False
        return self._end.stopped or bool(normalize(self._transcript.document))

    @property
    def ending(self) -> Ending:
        """How the reply ends (or would end now): rule 11."""
        return self._end.ending

    @property
    def interval(self) -> float:
        """The current gap between update starts: never below the floor, RTT or budget."""
        return max(self._options.min_interval, self._rtt or 0.0, self._budget)

    @property
    def final_text(self) -> str:
        """The whole reply as its last message(s) show it once it ends now."""
        document = self._transcript.document
        notice = self._end.mark(self._options)
        if notice is not None:
            return with_notice(document, notice)
        return normalize(document) or self._options.failure_notice

    # -- inputs ------------------------------------------------------------------------

    def feed(self, event: LLMEvent, now: float) -> bool:
        """Take one event of the model's stream; events after the end are ignored.

        Returns whether ``next_action`` may now answer differently, so the driver need not
        wake per chunk: never while a call is in flight, nor for a delta held by rule 9.
        """
        if self._end.over or self._phase is Phase.DONE:
            return False
        first = self._first_at is None
        match event:
            case TextDelta(text=text):
                self._transcript.add_text(text)
            case ReasoningDelta(text=text):
                self._transcript.add_reasoning(text)
            case End(finish_reason=reason):
                self._end.finished = True
                self._end.cut = reason == "length"
            case Usage():
                return False
        if first:
            self._first_at = now
        if self._in_flight is not None:
            return False
        if first or isinstance(event, End):
            return True
        return not (self._phase is Phase.WINDOW and self.held_until(now) is not None)

    def fail(self, now: float, reason: str, notice: str | None = None) -> None:
        """The source raised, timed out or was cancelled: finish with partial text + notice.

        ``notice`` is the failure's own (its cause's), else ``failure_notice``. Ignored
        once the stream ended (normally, or stopped) and once the final call is under way.
        """
        if self._end.over or self._phase in (Phase.SENDING_ONCE, Phase.CLOSING, Phase.DONE):
            return
        self._end.failure, self._end.failure_notice = reason, notice
        if self._first_at is None:
            self._first_at = now

    def stop(self, now: float) -> None:
        """The user stopped the reply: the text so far and ``stopped_notice`` (rule 11);
        ignored like ``fail``."""
        if self._end.over or self._phase in (Phase.SENDING_ONCE, Phase.CLOSING, Phase.DONE):
            return
        self._end.stopped = True

    def set_budget_interval(self, seconds: float) -> None:
        """This message's fair share of the shared rate budget, as a minimum interval."""
        self._budget = max(0.0, seconds)

    def update_done(self, now: float, ok: bool) -> None:
        """The call in flight finished (``ok=False``: it failed and was dropped).

        A failed ``Open`` is the driver's to handle (it falls back to another surface or
        to sending the text once); the pacer carries on as if the message were open.
        """
        call = self._in_flight
        if call is None:
            raise PacingError("update_done without a call in flight")
        self._in_flight = None
        sample = max(0.0, now - self._call_at)
        self._rtt = sample if self._rtt is None else self._rtt + RTT_WEIGHT * (sample - self._rtt)
        match call:
            case Open():
                self._goto(Phase.LIVE)
            case Update(text=text):
                if ok:
                    self._last_frame = text
                    self._failures = 0
                else:
                    self._failures += 1
            case Close() | SendOnce():
                self._goto(Phase.DONE)
            case Split():
                pass

    # -- the decision ------------------------------------------------------------------

    def next_action(self, now: float) -> Action:
        """What to do at ``now``; ``Wait`` says until when nothing is due."""
        if self._in_flight is not None:
            return Wait(None)
        if self._phase is Phase.DONE:
            return Done()
        if self._phase is Phase.WINDOW:
            return self._from_window(now)
        if self._end.over:
            return self._finish(now)
        return self._stream(now)

    def _from_window(self, now: float) -> Action:
        if self._end.over:
            if self._end.stopped and not normalize(self._transcript.document):
                self._goto(Phase.DONE)  # stopped before anything was said: nothing to send
                return Done()
            # Ended inside the window (or while held): one finished send, whatever its
            # length; the driver sends a text over the message limit in pieces.
            return self._issue(SendOnce(self.final_text), now, Phase.SENDING_ONCE)
        if self._first_at is None:
            return self._placeholder_due(now)
        until = self._first_at + self._options.oneshot_window
        if now < until and len(self._transcript.document) <= self._oneshot_chars:
            return Wait(until)
        held = self.held_until(now)
        if held is not None:
            return Wait(held)
        return self._issue(Open(), now, Phase.OPENING)

    def _placeholder_due(self, now: float) -> Action:
        """Rule 10: nothing arrived yet; open once the window since the start is over."""
        if not self._placeholder or self._started_at is None:
            return Wait(None)
        until = self._started_at + self._options.oneshot_window
        if now < until:
            return Wait(until)
        held = self.held_until(now)
        if held is not None:
            return Wait(held)
        return self._issue(Open(), now, Phase.OPENING)

    def held_until(self, now: float) -> float | None:
        """Rule 9: when to look again if the budget's pressure keeps the reply unopened
        at ``now``, or ``None`` when it may open (see the module docstring)."""
        # The answer has run since its first event; before one, since the reply started.
        anchor = self._first_at if self._first_at is not None else self._started_at
        if anchor is None or self._phase is not Phase.WINDOW:
            return None
        ran = now - anchor
        if self._budget <= max(self._options.oneshot_pressure, ran):
            return None
        # The share stays put: the answer outruns it at anchor + share. Meanwhile the
        # share may fall without an event (a stalled model): look again after max_idle.
        return min(anchor + self._budget, now + self._options.max_idle)

    def _finish(self, now: float) -> Action:
        current = self._current()
        notice = self._end.mark(self._options)
        if notice is not None:
            text = with_notice(current, notice)
        else:
            text = normalize(current)
            if not text and not self._offset:
                text = self._options.failure_notice
        if len(text) <= self._limit:
            return self._issue(Close(text, self.ok), now, Phase.CLOSING)
        # Room kept for "\n\n" + the notice in the message that closes the reply.
        room = self._limit - min(len(notice) + 2, self._limit // 2) if notice else self._limit
        return self._split(min(room, len(current.rstrip()) - 1), now)

    def _stream(self, now: float) -> Action:
        if (
            self._updates >= self._options.max_updates_per_reply
            or self._failures >= MAX_UPDATE_FAILURES
        ):
            return Wait(None)
        current = self._current()
        base = safe_frame(current)
        if len(base) > self._limit:
            ready = self.ready_at(grown=True)
            if now < ready:
                return Wait(ready)
            self._last_update_at = now
            return self._split(min(self._limit, len(current.rstrip()) - 1), now)
        cursor = self._options.cursor
        shown = current or self._transcript.thinking(self._limit - len(cursor))
        placeholder = not shown and not self._offset and bool(self._placeholder)
        if placeholder:
            shown = self._placeholder  # rule 10: something shows while nothing else does
        base = safe_frame(shown)
        frame = safe_frame(shown, cursor) if len(base) + len(cursor) <= self._limit else base
        if not base or frame == self._last_frame:
            return Wait(None)
        # Text replacing the placeholder counts as grown, however short it is.
        grown = abs(len(frame) - len(self._last_frame)) >= self._options.min_growth
        ready = self.ready_at(grown=grown or self._showing_placeholder)
        if now < ready:
            return Wait(ready)
        self._updates += 1
        self._last_update_at = now
        self._showing_placeholder = placeholder
        return self._issue(Update(frame), now)

    # -- helpers -----------------------------------------------------------------------

    def _current(self) -> str:
        """The current message's text: its reopened fence, then its slice of the reply."""
        return self._reopen + self._transcript.document[self._offset :]

    @property
    def last_update_at(self) -> float | None:
        """When the last update (or split) started; None before the first."""
        return self._last_update_at

    def ready_at(self, *, grown: bool) -> float:
        """The update rule: the earliest time the next update may start.

        ``grown`` says whether the frame grew by ``min_growth`` since the last update.
        This is bridge's rule (rule 3 of the module docstring); the benchmark's peer
        strategies override it to run other rules through the same relay.
        """
        if self._last_update_at is None:
            return float("-inf")
        gap = self.interval if grown else max(self.interval, self._options.max_idle)
        return self._last_update_at + gap

    def _split(self, limit: int, now: float) -> Split:
        current = self._current()
        cut = split_point(current, limit, after=len(self._reopen))
        part = current[len(self._reopen) : cut.index]
        self._offset += len(part)
        self._reopen = cut.reopen
        self._last_frame = ""
        self._splits += 1
        split = Split(close_text=cut.head, part=part, continued=cut.reopen)
        self._issue(split, now)
        return split

    def _issue(self, call: _C, now: float, phase: Phase | None = None) -> _C:
        if phase is not None:
            self._goto(phase)
        self._in_flight = call
        self._call_at = now
        return call

    def _goto(self, phase: Phase) -> None:
        if phase not in _NEXT[self._phase]:
            raise PacingError(f"no transition from {self._phase} to {phase}")
        self._phase = phase
