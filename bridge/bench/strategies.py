"""The pacing strategies the benchmark compares, as pacers the production relay drives.

``bridge`` is the production ``Pacer`` with the configured options. The peers are what
other connectors do, written as subclasses of it that change only *when* an update goes
out: they still build the same markdown-safe frames, single-flight their calls, close
every message with the complete text and report failures the same way, so the figures
compare pacing rules and nothing else. Unlike ``bridge`` the peers have no one-shot
window (they show the first chunk at once), no update cap, and know neither the round
trip nor the shared rate budget.

- ``per-chunk``: an update for every model chunk (an unthrottled SDK);
- ``fixed-800ms``: at most one update per 800 ms, decided when a chunk arrives; text
  arriving in between waits for the next chunk past the mark or for the final call
  (a widespread connector's rule: no timer, no trailing flush while the model pauses);
- ``every-8-chunks``: an update every 8 model chunks;
- ``time-or-size``: 0.8 s since the last update or 24 new characters, whichever first
  (with a timer).

Peers do not keep to the shared rate budget either (``Strategy.shares_budget``): their
calls go out as they are decided and meet DingTalk's QPS limit (403, retried by the
client like any rate-limit refusal). ``bridge bench --peer-budget`` gives them the
budget too, which isolates the update rule alone.

The peers override ``Pacer.ready_at`` (when the next update may start) and, for the
rules without a timer, turn timed waits into waits for the next event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from bridge.core.actions import Action, Update, Wait
from bridge.core.events import LLMEvent, ReasoningDelta, TextDelta
from bridge.core.options import PacingOptions
from bridge.core.pacer import Pacer
from bridge.delivery.relay import PacerLike

__all__ = [
    "STRATEGIES",
    "EveryNChunksPacer",
    "FixedIntervalPacer",
    "PeerPacer",
    "PerChunkPacer",
    "Strategy",
    "TimeOrSizePacer",
    "strategy",
]

#: Peers know no cap on updates; this only keeps a runaway reply finite.
PEER_MAX_UPDATES = 100_000


class PeerPacer(Pacer):
    """Base of the peers: no one-shot window, no cap, no budget; ``timer`` as set."""

    timer = True
    """False: only a model event can trigger an update (text waits while the model pauses)."""

    def __init__(self, options: PacingOptions, *, min_growth: int = 1) -> None:
        super().__init__(
            replace(
                options,
                oneshot_window=0.0,
                max_updates_per_reply=PEER_MAX_UPDATES,
                min_growth=min_growth,
            )
        )

    def set_budget_interval(self, seconds: float) -> None:
        """Ignored: peers do not share a rate budget between messages."""

    def next_action(self, now: float) -> Action:
        action = super().next_action(now)
        if not self.timer and isinstance(action, Wait) and action.until is not None:
            return Wait(None)
        return action


class PerChunkPacer(PeerPacer):
    """``per-chunk``: every change goes out as soon as nothing is in flight."""

    def ready_at(self, *, grown: bool) -> float:
        return -math.inf


class FixedIntervalPacer(PeerPacer):
    """``fixed-800ms``: at most one update per ``interval``, checked when a chunk arrives."""

    timer = False

    def __init__(self, options: PacingOptions, interval: float = 0.8) -> None:
        super().__init__(options)
        self._every = interval

    def ready_at(self, *, grown: bool) -> float:
        if self.last_update_at is None:
            return -math.inf
        return self.last_update_at + self._every


class EveryNChunksPacer(PeerPacer):
    """``every-8-chunks``: an update once ``chunks`` model chunks arrived since the last."""

    timer = False

    def __init__(self, options: PacingOptions, chunks: int = 8) -> None:
        super().__init__(options)
        self._chunks = chunks
        self._seen = 0
        self._seen_at_update = 0

    def feed(self, event: LLMEvent, now: float) -> None:
        if isinstance(event, TextDelta | ReasoningDelta):
            self._seen += 1
        super().feed(event, now)

    def next_action(self, now: float) -> Action:
        action = super().next_action(now)
        if isinstance(action, Update):
            self._seen_at_update = self._seen
        return action

    def ready_at(self, *, grown: bool) -> float:
        if self.last_update_at is None or self._seen - self._seen_at_update >= self._chunks:
            return -math.inf
        return math.inf


class TimeOrSizePacer(PeerPacer):
    """``time-or-size``: ``interval`` since the last update or ``chars`` new characters."""

    def __init__(self, options: PacingOptions, interval: float = 0.8, chars: int = 24) -> None:
        super().__init__(options, min_growth=chars)
        self._every = interval

    def ready_at(self, *, grown: bool) -> float:
        if self.last_update_at is None or grown:
            return -math.inf
        return self.last_update_at + self._every


@dataclass(frozen=True, slots=True)
class Strategy:
    """A named pacing rule: ``make(options)`` gives a fresh pacer for one reply.

    ``shares_budget``: whether the strategy's DingTalk client keeps to the shared rate
    budget (bridge does; the connectors the peers stand for call as fast as they like).
    """

    name: str
    rule: str
    make: Callable[[PacingOptions], PacerLike]
    shares_budget: bool = False


STRATEGIES: tuple[Strategy, ...] = (
    Strategy(
        "bridge",
        "ours: one-shot window, interval ≥ max(min_interval, RTT, budget share), "
        "growth or idle, trailing flush",
        Pacer,
        shares_budget=True,
    ),
    Strategy("per-chunk", "an update for every model chunk", PerChunkPacer),
    Strategy(
        "fixed-800ms",
        "at most one update per 800 ms, on chunk arrival; the rest waits for the final call",
        FixedIntervalPacer,
    ),
    Strategy("every-8-chunks", "an update every 8 model chunks", EveryNChunksPacer),
    Strategy("time-or-size", "0.8 s or 24 new characters, whichever first", TimeOrSizePacer),
)


def strategy(name: str) -> Strategy:
    """The strategy called ``name``; ``KeyError`` names the known ones."""
    for candidate in STRATEGIES:
        if candidate.name == name:
            return candidate
    known = ", ".join(s.name for s in STRATEGIES)
    raise KeyError(f"unknown strategy {name!r} (known: {known})")
