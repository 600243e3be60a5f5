"""``bridge bench`` end to end at a tiny size: a real process, real emulator and phase children."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from bridge.bench.command import parse_counts

BRIDGE = Path(sys.executable).parent / "bridge"
RUN = ("bridge", "fixed-800ms", "fixed-800ms+budget")
FIGURES = (
    "calls_per_reply",
    "calls_per_long_reply",
    "calls_per_short_reply",
    "first_visible_p50",
    "lag_p50",
    "lag_p99",
    "end_to_final_p99",
    "rejected",
    "unclosed",
    "final_only_chars",
    "cpu_per_1000_chunks",
    "rss_per_conversation_kb",
)


def test_a_tiny_run_reports_both_runs_of_a_peer(tmp_path: Path) -> None:
    """Three replies, two at a time: bridge and a peer plain and +budget, every figure."""
    report, chart = tmp_path / "bench.json", tmp_path / "bench.png"
    # A fast model keeps the run short; a high limit keeps the peers' 403 storms out of
    # a test that checks the plumbing, not DingTalk's limit. One peer (its two runs) is
    # enough: every phase is a fresh process, and the registry test covers the rest.
    result = subprocess.run(
        [
            str(BRIDGE), "bench", "--replies", "3", "--concurrency", "2", "--qps", "1000",
            "--ttft", "0.05", "--tps", "400", "--chunk-chars", "8", "--long-chars", "480",
            "--strategies", "bridge,fixed-800ms*",
            "--no-progress", "--json", str(report), "--chart", str(chart),
        ],
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in RUN:
        assert f" {name} " in result.stdout
    assert "Targets" in result.stdout
    document = json.loads(report.read_text(encoding="utf-8"))
    rows = document["results"]
    assert [row["strategy"] for row in rows] == list(RUN)
    assert [s["shares_budget"] for s in document["settings"]["strategies"]] == [
        True,
        False,
        True,
    ]
    for row in rows:
        assert row["replies"] == 3
        assert row["unclosed"] == 0
        assert row["undelivered"] == 0
        for figure in FIGURES:
            assert row[figure] is not None, (row["strategy"], figure)
    bridge = rows[0]
    assert bridge["calls_per_short_reply"] == 1.0
    assert bridge["rejected"] == 0
    assert document["machine"]["cores"] >= 1
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_an_unknown_strategy_is_refused() -> None:
    """``--strategies`` names a strategy that does not exist: usage error, no run."""
    result = subprocess.run(
        [str(BRIDGE), "bench", "--strategies", "bridge,nope", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "nope" in result.stderr


def test_concurrency_lists_are_parsed() -> None:
    """``--concurrency 1,100,1000`` is a scale series; nonsense is refused."""
    assert parse_counts("1,100,1000", "--concurrency") == (1, 100, 1000)
    with pytest.raises(typer.BadParameter):
        parse_counts("1,x", "--concurrency")
    with pytest.raises(typer.BadParameter):
        parse_counts("0", "--concurrency")
