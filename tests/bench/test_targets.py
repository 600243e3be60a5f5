"""Tests for bridge.bench.targets: bridge checked against plain and +budget peers."""

from __future__ import annotations

from dataclasses import replace

from bridge.bench.metrics import ResourceUse, StrategyFigures, summarize
from bridge.bench.targets import render_targets, targets

USE = ResourceUse(
    wall_seconds=1.0,
    cpu_seconds=0.1,
    chunks=100,
    peak_rss_bytes=0,
    baseline_rss_bytes=0,
    call_seconds_p50=0.01,
)
EMPTY = summarize("bridge", 10, 20, [], USE)


def row(strategy: str, calls: float, lag: float, final_only: int) -> StrategyFigures:
    """A row with the figures the targets read."""
    return replace(
        EMPTY,
        strategy=strategy,
        calls_per_long_reply=calls,
        calls_per_short_reply=1.0,
        lag_p99=lag,
        final_only_chars=final_only,
        wait_max=0.5,
    )


ROWS = [
    row("bridge", 5.0, 0.9, 100),
    row("per-chunk", 60.0, 1.0, 10),
    row("per-chunk+budget", 40.0, 1.2, 10),
    row("fixed-800ms", 9.0, 0.8, 150),
    row("fixed-800ms+budget", 8.0, 1.1, 90),
]


def test_each_peer_comparison_is_made_with_both_runs() -> None:
    """A peer with plain and +budget rows is compared twice, plain first."""
    goals = [t.goal for t in targets(ROWS, 0.8)]
    assert goals.index("≥10× fewer calls per long reply than per-chunk") < goals.index(
        "≥10× fewer calls per long reply than per-chunk+budget"
    )
    for suffix in ("", "+budget"):
        assert f"p99 lag lower than fixed-800ms{suffix}" in goals
        assert f"less text waiting for the final call than fixed-800ms{suffix}" in goals


def test_a_target_is_met_against_one_run_and_missed_against_the_other() -> None:
    """Lag: above the plain peer's, below the budgeted peer's; the tail: the reverse."""
    met = {t.goal: t.met for t in targets(ROWS, 0.8)}
    assert met["p99 lag lower than fixed-800ms"] is False
    assert met["p99 lag lower than fixed-800ms+budget"] is True
    assert met["less text waiting for the final call than fixed-800ms"] is True
    assert met["less text waiting for the final call than fixed-800ms+budget"] is False


def test_only_the_runs_present_are_compared() -> None:
    """Without +budget rows, no target names a +budget peer."""
    plain = [r for r in ROWS if not r.strategy.endswith("+budget")]
    assert not any("+budget" in t.goal for t in targets(plain, 0.8))


def test_targets_render_one_line_each() -> None:
    """Each target is one line, marked met or MISSED, with its concurrency."""
    found = targets(ROWS, 0.8)
    lines = render_targets(found).splitlines()
    assert len(lines) == len(found)
    assert all("c=10:" in line for line in lines)
    assert any("[MISSED]" in line for line in lines)
