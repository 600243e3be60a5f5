"""The pacing strategies the benchmark compares, as pacers the production relay drives.

``bridge`` is the production ``Pacer`` with the configured options. The peers are what
other connectors do, written as subclasses of it that change only *when* an update goes
out: they still build the same markdown-safe frames, single-flight their calls, close
every message with the complete text and report failures the same way, so the figures
compare pacing rules and nothing else. Unlike ``bridge`` the peers have no one-shot
window (they show the first chunk at once) and so no one-shot path under budget
pressure either, no update cap, and know neither the round trip nor the shared rate
budget.

- ``per-chunk``: an update for every model chunk (an unthrottled SDK);
- ``fixed-800ms``: at most one update per 800 ms, decided when a chunk arrives; text
  arriving in between waits for the next chunk past the mark or for the final call
  (a widespread connector's rule: no timer, no trailing flush while the model pauses);
- ``every-8-chunks``: an update every 8 model chunks;
- ``time-or-size``: 0.8 s since the last update or 24 new characters, whichever first
  (with a timer).

Two things set bridge apart, and the registry separates them: its *pacing rule* (the
pacer) and its *client-side rate budget* (``RateBudget``: every DingTalk call of the
process waits for a slot under the app's QPS limit, closes first). Each peer therefore
runs twice: plain (``fixed-800ms``: no client-side budget, ``bench.nobudget``: its calls
go out as they are decided and meet DingTalk's QPS limit as 403s, each refused call
waiting out its own hint before its retry) and ``+budget`` (``fixed-800ms+budget``: the
same rule behind bridge's shared budget). bridge against a ``+budget`` peer compares
pacing rules alone; a peer plain against ``+budget`` shows what the budget does by
itself. A ``+budget`` peer's pacer still ignores the budget share
(``set_budget_interval``): stretching the interval to it, and sending once under
pressure, are part of bridge's rule.

The peers override ``Pacer.ready_at`` (when the next update may start) and, for the
rules without a timer, turn timed waits into waits for the next event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from bridge.core.actions import Action, Update, Wait
from bridge.core.events import LLMEvent, ReasoningDelta, TextDelta
from bridge.core.options import PacingOptions
from bridge.core.pacer import Pacer
from bridge.delivery.relay import PacerLike

__all__ = [
    "BRIDGE",
    "BUDGET_SUFFIX",
    "PEERS",
    "STRATEGIES",
    "EveryNChunksPacer",
    "FixedIntervalPacer",
    "PeerPacer",
    "PerChunkPacer",
    "Strategy",
    "TimeOrSizePacer",
    "select",
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

    def feed(self, event: LLMEvent, now: float) -> bool:
        if isinstance(event, TextDelta | ReasoningDelta):
            self._seen += 1
        return super().feed(event, now)

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


#: Appended to a peer's name when it runs behind the shared rate budget.
BUDGET_SUFFIX = "+budget"


@dataclass(frozen=True, slots=True)
class Strategy:
    """A named pacing rule: ``make(options)`` gives a fresh pacer for one reply.

    ``shares_budget``: whether the strategy's DingTalk client keeps to the shared rate
    budget (bridge does, and so does every ``+budget`` peer; a plain peer calls as fast
    as its rule decides, as the connectors it stands for do).
    """

    name: str
    rule: str
    make: Callable[[PacingOptions], PacerLike]
    shares_budget: bool = False

    @property
    def family(self) -> str:
        """The pacing rule's name, the same with or without the budget (``fixed-800ms``)."""
        return self.name.removesuffix(BUDGET_SUFFIX)

    def with_budget(self) -> Strategy:
        """The same rule behind the shared rate budget, named ``<name>+budget``."""
        return replace(
            self,
            name=f"{self.name}{BUDGET_SUFFIX}",
            rule=f"{self.rule}; behind the shared rate budget",
            shares_budget=True,
        )


BRIDGE = Strategy(
    "bridge",
    "ours: one-shot window, one call per reply under budget pressure, "
    "interval ≥ max(min_interval, RTT, budget share), growth or idle, trailing flush; "
    "behind the shared rate budget (one-shots and closes oldest reply first)",
    Pacer,
    shares_budget=True,
)
#: The peers as the connectors they stand for run them: no client-side budget.
PEERS: tuple[Strategy, ...] = (
    Strategy("per-chunk", "an update for every model chunk", PerChunkPacer),
    Strategy(
        "fixed-800ms",
        "at most one update per 800 ms, on chunk arrival; the rest waits for the final call",
        FixedIntervalPacer,
    ),
    Strategy("every-8-chunks", "an update every 8 model chunks", EveryNChunksPacer),
    Strategy("time-or-size", "0.8 s or 24 new characters, whichever first", TimeOrSizePacer),
)
#: Everything ``bridge bench`` runs by default: bridge, then each peer plain and +budget.
STRATEGIES: tuple[Strategy, ...] = (
    BRIDGE,
    *(variant for peer in PEERS for variant in (peer, peer.with_budget())),
)


def strategy(name: str) -> Strategy:
    """The strategy called ``name``; ``KeyError`` names the known ones."""
    for candidate in STRATEGIES:
        if candidate.name == name:
            return candidate
    known = ", ".join(s.name for s in STRATEGIES)
    raise KeyError(f"unknown strategy {name!r} (known: {known})")


def select(text: str) -> tuple[Strategy, ...]:
    """The strategies a comma-separated list names, in the order given, each once.

    An item is a name (``fixed-800ms+budget``) or a shell-style pattern over the names
    (``*+budget``: every peer behind the budget); a pattern expands in registry order.
    ``KeyError`` names an item that matches nothing, and the known names.
    """
    chosen: list[Strategy] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        found = [s for s in STRATEGIES if fnmatchcase(s.name, item)]
        if not found:
            known = ", ".join(s.name for s in STRATEGIES)
            raise KeyError(f"unknown strategy {item!r} (known: {known})")
        chosen.extend(s for s in found if s not in chosen)
    if not chosen:
        raise KeyError("no strategy named")
    return tuple(chosen)
