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


def test_budget_bound_levels_hold_bridge_to_the_floor() -> None:
    """Above oneshot_pressure conversations per QPS: ≤ 1.05 calls, p99 ≤ 1.1 × floor."""
    near = replace(
        row("bridge", 1.0, 50.0, 0),
        concurrency=1000,
        replies=1000,
        calls_per_reply=1.02,
        end_to_final_p99=54.0,
        floor_seconds=50.0,
    )
    far = replace(near, calls_per_reply=1.5, end_to_final_p99=80.0)
    met = {t.goal: t.met for t in targets([near], 0.8, 10.0)}
    assert met["budget-bound: calls per reply ≤ 1.05"] is True
    assert met["budget-bound: end→final p99 within 10 % of the floor (replies ÷ QPS)"] is True
    assert not any(t.met for t in targets([far], 0.8, 10.0) if t.goal.startswith("budget-bound"))


def test_levels_the_budget_does_not_bind_have_no_floor_target() -> None:
    """100 conversations at 20 QPS (5 s each) is under a 10 s oneshot_pressure."""
    level = replace(row("bridge", 2.0, 5.0, 0), concurrency=100, floor_seconds=5.0)
    assert not any(t.goal.startswith("budget-bound") for t in targets([level], 0.8, 10.0))
