"""Tests for bridge.bench.chart: both layouts write a PNG (figures from hand-made rows)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bridge.bench.chart import write_chart
from bridge.bench.metrics import ResourceUse, summarize

USE = ResourceUse(
    wall_seconds=1.0,
    cpu_seconds=0.1,
    chunks=100,
    peak_rss_bytes=0,
    baseline_rss_bytes=0,
    call_seconds_p50=0.01,
)
EMPTY = summarize("bridge", 1, 20, [], USE)


def test_strategies_side_by_side_one_panel_per_level(tmp_path: Path) -> None:
    """Plain and +budget runs at two levels, one of them lossy: a PNG is written."""
    rows = [
        replace(EMPTY, strategy=name, concurrency=level, calls_per_reply=calls, lag_p99=lag)
        for level in (1, 100)
        for name, calls, lag in (
            ("bridge", 5.0, 0.9),
            ("fixed-800ms", 9.0, 0.8),
            ("fixed-800ms+budget", 8.0, 1.1),
        )
    ]
    rows[-2] = replace(rows[-2], replies=100, undelivered=11)
    path = tmp_path / "chart.png"
    write_chart(path, rows)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_one_strategy_at_several_levels_is_one_panel(tmp_path: Path) -> None:
    """A scale run of bridge alone: a PNG is written."""
    rows = [
        replace(EMPTY, concurrency=level, calls_per_reply=calls, lag_p99=lag)
        for level, calls, lag in ((100, 5.4, 1.1), (1000, 1.5, 20.8))
    ]
    path = tmp_path / "scale.png"
    write_chart(path, rows)
    assert path.read_bytes().startswith(b"\x89PNG")
