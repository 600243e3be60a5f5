"""``bridge bench --instances``: dealing a phase out, adding up, and a tiny run on Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.bench.answer import PhaseReport
from bridge.bench.instances import combined_use, deal, shares
from tests.redis_server import redis_server_path

BRIDGE = Path(sys.executable).parent / "bridge"


def report(wall: float, cpu: float, peak: int, calls: tuple[float, ...]) -> PhaseReport:
    """A phase child's report with the given spending."""
    return PhaseReport(
        sent=(),
        call_seconds=calls,
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_bytes=peak,
        baseline_rss_bytes=peak // 2,
    )


def test_conversations_are_shared_out_larger_first_none_empty() -> None:
    """10 over 3 is 4, 3, 3; fewer than the instances still gives each one."""
    assert shares(10, 3) == [4, 3, 3]
    assert shares(9, 3) == [3, 3, 3]
    assert shares(2, 3) == [1, 1, 1]
    with pytest.raises(ValueError, match="one instance"):
        shares(3, 0)


def test_replies_are_dealt_round_robin() -> None:
    """Every reply goes to exactly one instance, each kind spread alike."""
    hands = deal(list(range(7)), 3)
    assert hands == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(x for hand in hands for x in hand) == list(range(7))


def test_what_the_instances_spent_is_added_up() -> None:
    """CPU and memory add up, the wall time is the longest, the call median is of all calls."""
    use = combined_use(
        [report(3.0, 1.0, 100, (0.1, 0.2)), report(5.0, 2.0, 300, (0.3,))], chunks=42
    )
    assert (use.wall_seconds, use.cpu_seconds, use.chunks) == (5.0, 3.0, 42)
    assert (use.peak_rss_bytes, use.baseline_rss_bytes) == (400, 200)
    assert use.call_seconds_p50 == 0.2


@pytest.mark.timeout(120)
def test_a_tiny_run_on_three_instances_reports_each_and_the_total(tmp_path: Path) -> None:
    """Six replies over three bridge processes on one Redis at 20 QPS: a row per
    instance and a total, every reply delivered and closed, no 403."""
    redis_server_path()  # skips (or fails under CI) without redis-server
    figures = tmp_path / "bench.json"
    result = subprocess.run(
        [
            str(BRIDGE), "bench", "--instances", "3", "--replies", "6", "--concurrency", "3",
            "--ttft", "0.05", "--tps", "400", "--chunk-chars", "8", "--long-chars", "480",
            "--strategies", "bridge", "--no-progress", "--json", str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "among 3 bridge processes on one Redis" in result.stdout
    document = json.loads(figures.read_text(encoding="utf-8"))
    assert document["settings"]["instances"] == 3
    rows = document["results"]
    assert [(r["strategy"], r["instance"]) for r in rows] == [
        ("bridge @1", 1),
        ("bridge @2", 2),
        ("bridge @3", 3),
        ("bridge", None),
    ]
    assert [r["replies"] for r in rows] == [2, 2, 2, 6]
    assert [r["concurrency"] for r in rows] == [1, 1, 1, 3]
    total = rows[-1]
    assert (total["rejected"], total["unclosed"], total["undelivered"]) == (0, 0, 0)
    assert total["chunks"] == sum(r["chunks"] for r in rows[:3])
