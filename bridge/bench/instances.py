"""``bridge bench --instances N``: one phase shared by N bridge processes (pure helpers).

With instances, each phase runs N phase children at once instead of one, every one a
bridge process of its own keeping to the ``SharedBudget`` on one Redis (started by the
runner), as N ``bridge serve`` instances do. The phase's replies and concurrent
conversations are dealt out among them (``deal``, ``shares``); they warm up each on a
conversation of its own and measure together (``phase_process.run_phases``). The
figures come per instance and in total: the emulator's record is read once and split
by the replies each instance answered, and what the processes spent is added up
(``combined_use``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from bridge.bench.answer import PhaseReport
from bridge.bench.metrics import ResourceUse, percentile

__all__ = ["combined_use", "deal", "shares"]

T = TypeVar("T")


def shares(total: int, n: int) -> list[int]:
    """``total`` split into ``n`` near-equal parts, the larger first, none below 1."""
    if n < 1:
        raise ValueError("at least one instance")
    return [max(1, total // n + (1 if k < total % n else 0)) for k in range(n)]


def deal(items: Sequence[T], n: int) -> list[list[T]]:
    """``items`` dealt round-robin into ``n`` hands, so every hand gets each kind alike."""
    if n < 1:
        raise ValueError("at least one instance")
    return [list(items[k::n]) for k in range(n)]


def combined_use(reports: Sequence[PhaseReport], chunks: int) -> ResourceUse:
    """What several processes spent together: CPU and memory added up, the longest wall
    time, the median of all their calls."""
    return ResourceUse(
        wall_seconds=max((r.wall_seconds for r in reports), default=0.0),
        cpu_seconds=sum(r.cpu_seconds for r in reports),
        chunks=chunks,
        peak_rss_bytes=sum(r.peak_rss_bytes for r in reports),
        baseline_rss_bytes=sum(r.baseline_rss_bytes for r in reports),
        call_seconds_p50=percentile([s for r in reports for s in r.call_seconds], 50),
    )
