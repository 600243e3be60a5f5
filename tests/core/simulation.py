"""A simulated scheduler that drives a Pacer with a fake clock, for the core's tests.

Events arrive at given times, each call the pacer asks for takes a given round trip,
and the run may fail at a given time (a source error, or a cancellation that also
interrupts the call in flight). It checks single flight as it goes and records every
call with its time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bridge.core.actions import Call, Close, Done, Open, SendOnce, Split, Update, Wait
from bridge.core.events import End, LLMEvent
from bridge.core.frames import normalize
from bridge.core.options import PacingOptions
from bridge.core.pacer import Pacer

__all__ = ["Trace", "opens_and_closes", "rejoin", "simulate"]


@dataclass
class Trace:
    """What the pacer asked for, in order, with the time of each call."""

    calls: list[tuple[float, Call]] = field(default_factory=list)
    first_event_at: float | None = None
    ended_at: float | None = None
    streaming_calls: int = 0  # updates and splits asked for before the stream ended

    def of(self, kind: type[Call]) -> list[Call]:
        return [call for _, call in self.calls if isinstance(call, kind)]

    def messages(self) -> list[str]:
        """The final text of every message shown, in order."""
        return [c.close_text if isinstance(c, Split) else c.text for c in self.closing()]

    def closing(self) -> list[Split | Close | SendOnce]:
        return [c for _, c in self.calls if isinstance(c, Split | Close | SendOnce)]


def simulate(
    options: PacingOptions,
    events: Sequence[tuple[float, LLMEvent]],
    round_trips: Sequence[float] = (0.1,),
    *,
    fail_at: float | None = None,
    cancel: bool = False,
    failing_updates: Sequence[bool] = (False,),
    budget: float | Callable[[float], float] = 0.0,
) -> Trace:
    """Run the pacer to ``Done``; ``events`` must be in time order.

    ``budget`` is the budget share per message, or a function of the time giving it
    (read before every decision, as the relay does).
    """
    pacer = Pacer(options)
    share = budget if callable(budget) else (lambda now: budget)
    trace = Trace()
    pending = list(events)
    in_flight: tuple[float, Call] | None = None
    now = 0.0
    calls = 0
    for _ in range(100_000):
        pacer.set_budget_interval(share(now))
        action = pacer.next_action(now)
        if isinstance(action, Done):
            assert in_flight is None
            return trace
        if not isinstance(action, Wait):
            assert in_flight is None, f"two calls in flight: {in_flight} and {action}"
            trace.calls.append((now, action))
            if isinstance(action, Update | Split) and trace.ended_at is None:
                trace.streaming_calls += 1
            in_flight = (now + round_trips[calls % len(round_trips)], action)
            calls += 1
            continue
        if in_flight is not None:
            assert action.until is None, "a deadline while a call is in flight"
        next_event = pending[0][0] if pending else math.inf
        done_at = in_flight[0] if in_flight is not None else math.inf
        until = action.until if action.until is not None else math.inf
        failing = fail_at if fail_at is not None else math.inf
        step = min(next_event, done_at, until, failing)
        assert step < math.inf, "the pacer waits for nothing"
        now = max(now, step)
        if failing <= step:
            fail_at = None
            if cancel and in_flight is not None:
                in_flight = None
                pacer.update_done(now, False)
            pacer.fail(now, "cancelled" if cancel else "source failed")
        elif done_at <= step and in_flight is not None:
            ok = not (
                isinstance(in_flight[1], Update) and failing_updates[calls % len(failing_updates)]
            )
            in_flight = None
            pacer.update_done(now, ok)
        elif next_event <= step:
            _, event = pending.pop(0)
            if trace.first_event_at is None:
                trace.first_event_at = now
            if isinstance(event, End):
                trace.ended_at = now
            pacer.feed(event, now)
    raise AssertionError("the pacer never finished")


def rejoin(trace: Trace, expected: str) -> None:
    """Check the messages of a streamed reply rejoin to ``expected`` (seams removed)."""
    splits = trace.of(Split)
    close = trace.of(Close)[-1]
    assert isinstance(close, Close)
    joined = "".join(split.part for split in splits if isinstance(split, Split))
    assert expected.startswith(joined)
    last = splits[-1] if splits else None
    continued = last.continued if isinstance(last, Split) else ""
    assert close.text == normalize(continued + expected[len(joined) :])


def opens_and_closes(trace: Trace) -> tuple[int, int]:
    """Messages opened (opens and continuations) and messages closed (splits and closes)."""
    opened = len(trace.of(Open)) + len(trace.of(Split))
    closed = len(trace.of(Split)) + len(trace.of(Close))
    return opened, closed
