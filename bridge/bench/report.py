"""The benchmark's text and JSON outputs: the terminal tables and the figures file.

Everything here reads finished ``StrategyFigures`` rows; nothing measures. A table has
one row per (concurrency, strategy): ``PACING`` (calls and lag), ``FLOOR`` (calls per
reply and the model's end → final text p99 against the floor, replies ÷ QPS) and
``COST`` (rejections, losses, CPU and memory). ``write_json`` writes every figure with
the targets check (``targets``), the settings and the machine. The chart is
``chart.write_chart``.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bridge.bench.metrics import StrategyFigures
from bridge.bench.targets import Target

__all__ = ["COST", "FLOOR", "PACING", "machine", "render_table", "write_json"]

Column = tuple[str, int, Callable[[StrategyFigures], str]]


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def _ratio(value: float | None, floor: float) -> str:
    return "–" if value is None or floor <= 0 else f"{value / floor:.2f}×"


def _share(value: float | None) -> str:
    return _num(None if value is None else value * 100, 1, " %")


_KEYS: tuple[Column, ...] = (
    ("conc", 5, lambda r: str(r.concurrency)),
    ("strategy", 21, lambda r: r.strategy),
)
PACING: tuple[Column, ...] = (
    *_KEYS,
    ("calls/reply", 11, lambda r: _num(r.calls_per_reply, 1)),
    ("/long", 6, lambda r: _num(r.calls_per_long_reply, 1)),
    ("/short", 6, lambda r: _num(r.calls_per_short_reply, 1)),
    ("1st text p50", 12, lambda r: _num(r.first_visible_p50, 2, " s")),
    ("lag p50", 8, lambda r: _num(r.lag_p50, 2, " s")),
    ("lag p99", 8, lambda r: _num(r.lag_p99, 2, " s")),
    ("p99 streaming", 13, lambda r: _num(r.lag_p99_streaming, 2, " s")),
    ("lag max", 8, lambda r: _num(r.lag_max, 2, " s")),
    ("end→final p99", 13, lambda r: _num(r.end_to_final_p99, 2, " s")),
    ("final-only", 10, lambda r: _share(r.final_only_share)),
    ("wait max", 9, lambda r: _num(r.wait_max, 2, " s")),
)
FLOOR: tuple[Column, ...] = (
    *_KEYS,
    ("replies", 7, lambda r: str(r.replies)),
    ("calls/reply", 11, lambda r: _num(r.calls_per_reply, 2)),
    ("end→final p99", 13, lambda r: _num(r.end_to_final_p99, 2, " s")),
    ("floor", 8, lambda r: _num(r.floor_seconds, 2, " s")),
    ("p99 ÷ floor", 11, lambda r: _ratio(r.end_to_final_p99, r.floor_seconds)),
    ("403/429", 7, lambda r: str(r.rejected)),
    ("unclosed", 8, lambda r: str(r.unclosed)),
    ("undelivered", 11, lambda r: str(r.undelivered)),
)
COST: tuple[Column, ...] = (
    *_KEYS,
    ("replies", 7, lambda r: str(r.replies)),
    ("403/429", 7, lambda r: str(r.rejected)),
    ("unclosed", 8, lambda r: str(r.unclosed)),
    ("undelivered", 11, lambda r: str(r.undelivered)),
    ("call p50", 9, lambda r: _num(r.call_seconds_p50, 3, " s")),
    ("chunks", 7, lambda r: str(r.chunks)),
    ("CPU s", 7, lambda r: _num(r.cpu_seconds, 1)),
    ("CPU s/1k chunks", 15, lambda r: _num(r.cpu_per_1000_chunks, 2)),
    ("peak RSS", 9, lambda r: _num(r.peak_rss_mb, 0, " MB")),
    ("KB/conv", 8, lambda r: _num(r.rss_per_conversation_kb, 0)),
    ("wall", 7, lambda r: _num(r.wall_seconds, 0, " s")),
)


def render_table(rows: Sequence[StrategyFigures], columns: Sequence[Column] = PACING) -> str:
    """The figures as an aligned text table, one line per (concurrency, strategy)."""
    header = "  ".join(name.rjust(width) for name, width, _ in columns)
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append("  ".join(cell(row).rjust(width) for _, width, cell in columns))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the benchmark ran: cores, memory, Python, platform."""
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(
    path: Path,
    rows: Sequence[StrategyFigures],
    found: Sequence[Target],
    settings: dict[str, Any],
) -> None:
    """Write every figure, the targets, the settings and the machine as JSON."""
    document = {
        "machine": machine(),
        "settings": settings,
        "results": [asdict(row) for row in rows],
        "targets": [asdict(target) for target in found],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
