"""Tests for bridge.bench.report: the floor table."""

from __future__ import annotations

from dataclasses import replace

from bridge.bench.metrics import ResourceUse, summarize
from bridge.bench.report import FLOOR, render_table

USE = ResourceUse(
    wall_seconds=1.0,
    cpu_seconds=0.1,
    chunks=100,
    peak_rss_bytes=0,
    baseline_rss_bytes=0,
    call_seconds_p50=0.01,
)


def test_the_floor_table_sets_end_to_final_against_replies_over_qps() -> None:
    """One line per row: calls per reply, end→final p99, the floor and their ratio."""
    row = replace(
        summarize("bridge", 1000, 20, [], USE),
        replies=1000,
        calls_per_reply=1.01,
        end_to_final_p99=54.0,
        floor_seconds=50.0,
    )
    header, _, line = render_table([row], FLOOR).splitlines()
    assert "p99 ÷ floor" in header
    cells = "1000 bridge 1000 1.01 54.00 s 50.00 s 1.08× 0 0 0"
    assert line.split() == cells.split()
