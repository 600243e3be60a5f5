"""The issue's targets for ``bridge``, checked against the figures (measured, not asserted).

At each concurrency level ``bridge`` ran at, ``targets`` compares it with its peers and
with bounds of its own. A comparison with a peer is made with each run of that peer that
is present: plain (no client-side rate budget, as the connector it stands for) and
``+budget`` (the same rule behind bridge's budget). Against the plain peer a target
measures bridge as a whole; against the ``+budget`` peer, the pacing rule alone. Where
the budget is the bottleneck (conversations ÷ QPS above ``oneshot_pressure``) bridge
is also held to the floor: about one call per reply, and the final text within 10 % of
replies ÷ QPS.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bridge.bench.metrics import StrategyFigures
from bridge.bench.strategies import BUDGET_SUFFIX

__all__ = ["Target", "render_targets", "targets"]


@dataclass(frozen=True, slots=True)
class Target:
    """One goal of the issue, as measured at one concurrency level."""

    concurrency: int
    goal: str
    measured: str
    met: bool


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _runs(
    rows: Sequence[StrategyFigures], family: str, concurrency: int
) -> Iterator[StrategyFigures]:
    """The rows of ``family`` at ``concurrency``: plain first, then ``+budget``."""
    for name in (family, f"{family}{BUDGET_SUFFIX}"):
        for row in rows:
            if row.strategy == name and row.concurrency == concurrency:
                yield row
                break


def _against_per_chunk(ours: StrategyFigures, peer: StrategyFigures) -> Iterator[Target]:
    if ours.calls_per_long_reply and peer.calls_per_long_reply:
        ratio = peer.calls_per_long_reply / ours.calls_per_long_reply
        yield Target(
            ours.concurrency,
            f"≥10× fewer calls per long reply than {peer.strategy}",
            f"{ratio:.1f}× ({ours.calls_per_long_reply:.1f} vs {peer.calls_per_long_reply:.1f})",
            ratio >= 10,
        )


def _against_fixed(ours: StrategyFigures, peer: StrategyFigures) -> Iterator[Target]:
    c, name = ours.concurrency, peer.strategy
    if ours.calls_per_long_reply and peer.calls_per_long_reply:
        yield Target(
            c,
            f"calls per long reply ≤ {name}",
            f"{ours.calls_per_long_reply:.1f} vs {peer.calls_per_long_reply:.1f}",
            ours.calls_per_long_reply <= peer.calls_per_long_reply,
        )
    if ours.lag_p99 is not None and peer.lag_p99 is not None:
        yield Target(
            c,
            f"p99 lag lower than {name}",
            f"{ours.lag_p99:.2f} s vs {peer.lag_p99:.2f} s (after the first frame "
            f"{_seconds(ours.lag_p99_streaming)} vs {_seconds(peer.lag_p99_streaming)})",
            ours.lag_p99 < peer.lag_p99,
        )
    yield Target(
        c,
        f"less text waiting for the final call than {name}",
        f"{ours.final_only_chars} vs {peer.final_only_chars} characters",
        ours.final_only_chars <= peer.final_only_chars,
    )


def _own(ours: StrategyFigures, min_interval: float) -> Iterator[Target]:
    """The bounds bridge must keep whatever the peers do."""
    c = ours.concurrency
    rtt = ours.call_seconds_p50 or 0.0
    if ours.calls_per_short_reply is not None:
        yield Target(
            c,
            "short answers: exactly one call each",
            f"{ours.calls_per_short_reply:.2f} calls",
            ours.calls_per_short_reply == 1.0,
        )
    yield Target(
        c,
        "zero 403/429, zero unclosed (and undelivered) messages",
        f"{ours.rejected} rejected, {ours.unclosed} unclosed, {ours.undelivered} undelivered",
        ours.rejected == 0 and ours.unclosed == 0 and ours.undelivered == 0,
    )
    if ours.wait_max is not None:
        bound = max(min_interval, c / ours.qps) + rtt
        yield Target(
            c,
            "new text waits ≤ max(min_interval, conversations ÷ QPS) + RTT",
            f"longest {ours.wait_max:.2f} s vs {bound:.2f} s",
            ours.wait_max <= bound,
        )


def _saturated(ours: StrategyFigures, oneshot_pressure: float) -> Iterator[Target]:
    """Where the budget is the bottleneck (conversations ÷ QPS over ``oneshot_pressure``,
    so bridge answers in one call): one call per reply, and the final text as soon as
    the floor (replies ÷ QPS) allows."""
    c = ours.concurrency
    if c / ours.qps <= oneshot_pressure:
        return
    yield Target(
        c,
        "budget-bound: calls per reply ≤ 1.05",
        f"{ours.calls_per_reply:.2f} calls",
        ours.calls_per_reply <= 1.05,
    )
    end = ours.end_to_final_p99
    floor = ours.floor_seconds
    yield Target(
        c,
        "budget-bound: end→final p99 within 10 % of the floor (replies ÷ QPS)",
        f"{_seconds(end)} vs floor {floor:.2f} s"
        + ("" if end is None else f" ({end / floor:.2f}×)"),
        end is not None and end <= 1.1 * floor,
    )


def targets(
    rows: Sequence[StrategyFigures], min_interval: float, oneshot_pressure: float = 10.0
) -> list[Target]:
    """The issue's targets for ``bridge`` at each concurrency level it ran at."""
    found: list[Target] = []
    for ours in (r for r in rows if r.strategy == "bridge"):
        c = ours.concurrency
        for peer in _runs(rows, "per-chunk", c):
            found.extend(_against_per_chunk(ours, peer))
        if ours.lag_p99 is not None:
            bound = min_interval + (ours.call_seconds_p50 or 0.0)
            found.append(
                Target(
                    c,
                    "p99 lag ≤ min_interval + one round trip",
                    f"{ours.lag_p99:.2f} s (after the first frame "
                    f"{_seconds(ours.lag_p99_streaming)}) vs {bound:.2f} s",
                    ours.lag_p99 <= bound,
                )
            )
        for peer in _runs(rows, "fixed-800ms", c):
            found.extend(_against_fixed(ours, peer))
        found.extend(_own(ours, min_interval))
        found.extend(_saturated(ours, oneshot_pressure))
    return found


def render_targets(found: Sequence[Target]) -> str:
    """The targets as text lines, marked ``met`` or ``MISSED``."""
    return "\n".join(
        f"  [{'met' if t.met else 'MISSED':>6}] c={t.concurrency}: {t.goal}: {t.measured}"
        for t in found
    )
