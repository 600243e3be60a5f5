"""The benchmark's outputs: the terminal table, the targets check, JSON and a PNG chart.

Everything here reads finished ``StrategyFigures`` rows; nothing measures. The table
has one row per (concurrency, strategy). ``targets`` compares ``bridge`` with its peers
at each concurrency level against the issue's goals (measured, never asserted).
The chart plots calls per reply against p99 lag, one point per strategy and level;
matplotlib (the ``bench`` extra) is imported only when a chart is asked for, with the
Agg backend, so no display is needed.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bridge.bench.errors import BenchError
from bridge.bench.metrics import StrategyFigures

__all__ = [
    "Target",
    "machine",
    "render_table",
    "render_targets",
    "targets",
    "write_chart",
    "write_json",
]

Column = tuple[str, int, Callable[[StrategyFigures], str]]


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def _share(value: float | None) -> str:
    return _num(None if value is None else value * 100, 1, " %")


_KEYS: tuple[Column, ...] = (
    ("conc", 5, lambda r: str(r.concurrency)),
    ("strategy", 14, lambda r: r.strategy),
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


@dataclass(frozen=True, slots=True)
class Target:
    """One goal of the issue, as measured at one concurrency level."""

    concurrency: int
    goal: str
    measured: str
    met: bool


def _row(
    rows: Sequence[StrategyFigures], strategy: str, concurrency: int
) -> StrategyFigures | None:
    return next((r for r in rows if r.strategy == strategy and r.concurrency == concurrency), None)


def targets(rows: Sequence[StrategyFigures], min_interval: float) -> list[Target]:
    """The issue's targets for ``bridge`` at each concurrency level it ran at."""
    found: list[Target] = []
    for ours in (r for r in rows if r.strategy == "bridge"):
        c = ours.concurrency
        rtt = ours.call_seconds_p50 or 0.0
        per_chunk = _row(rows, "per-chunk", c)
        if per_chunk and ours.calls_per_long_reply and per_chunk.calls_per_long_reply:
            ratio = per_chunk.calls_per_long_reply / ours.calls_per_long_reply
            found.append(
                Target(
                    c,
                    "≥10× fewer calls per long reply than per-chunk",
                    f"{ratio:.1f}× ({ours.calls_per_long_reply:.1f} vs "
                    f"{per_chunk.calls_per_long_reply:.1f})",
                    ratio >= 10,
                )
            )
        if ours.lag_p99 is not None:
            bound = min_interval + rtt
            streaming = _num(ours.lag_p99_streaming, 2, " s")
            found.append(
                Target(
                    c,
                    "p99 lag ≤ min_interval + one round trip",
                    f"{ours.lag_p99:.2f} s (after the first frame {streaming}) vs {bound:.2f} s",
                    ours.lag_p99 <= bound,
                )
            )
        fixed = _row(rows, "fixed-800ms", c)
        if fixed and ours.calls_per_long_reply and fixed.calls_per_long_reply:
            found.append(
                Target(
                    c,
                    "calls per long reply ≤ fixed-800ms",
                    f"{ours.calls_per_long_reply:.1f} vs {fixed.calls_per_long_reply:.1f}",
                    ours.calls_per_long_reply <= fixed.calls_per_long_reply,
                )
            )
        if fixed and ours.lag_p99 is not None and fixed.lag_p99 is not None:
            found.append(
                Target(
                    c,
                    "p99 lag lower than fixed-800ms",
                    f"{ours.lag_p99:.2f} s vs {fixed.lag_p99:.2f} s (after the first frame "
                    f"{_num(ours.lag_p99_streaming, 2, ' s')} vs "
                    f"{_num(fixed.lag_p99_streaming, 2, ' s')})",
                    ours.lag_p99 < fixed.lag_p99,
                )
            )
        if fixed:
            found.append(
                Target(
                    c,
                    "less text waiting for the final call than fixed-800ms",
                    f"{ours.final_only_chars} vs {fixed.final_only_chars} characters",
                    ours.final_only_chars <= fixed.final_only_chars,
                )
            )
        if ours.calls_per_short_reply is not None:
            found.append(
                Target(
                    c,
                    "short answers: exactly one call each",
                    f"{ours.calls_per_short_reply:.2f} calls",
                    ours.calls_per_short_reply == 1.0,
                )
            )
        found.append(
            Target(
                c,
                "zero 403/429, zero unclosed (and undelivered) messages",
                f"{ours.rejected} rejected, {ours.unclosed} unclosed, "
                f"{ours.undelivered} undelivered",
                ours.rejected == 0 and ours.unclosed == 0 and ours.undelivered == 0,
            )
        )
        if ours.wait_max is not None:
            bound = max(min_interval, c / ours.qps) + rtt
            found.append(
                Target(
                    c,
                    "new text waits ≤ max(min_interval, conversations ÷ QPS) + RTT",
                    f"longest {ours.wait_max:.2f} s vs {bound:.2f} s",
                    ours.wait_max <= bound,
                )
            )
    return found


def render_targets(found: Sequence[Target]) -> str:
    """The targets as text lines, marked ``met`` or ``MISSED``."""
    return "\n".join(
        f"  [{'met' if t.met else 'MISSED':>6}] c={t.concurrency}: {t.goal}: {t.measured}"
        for t in found
    )


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


def write_chart(path: Path, rows: Sequence[StrategyFigures]) -> None:
    """Calls per reply against p99 lag, one point per strategy and concurrency level."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter, ScalarFormatter
    except ImportError as exc:
        raise BenchError("the chart needs matplotlib: pip install 'bridge[bench]'") from exc
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    markers = "osD^v<>"
    levels = sorted({row.concurrency for row in rows})
    for index, level in enumerate(levels):
        points = [r for r in rows if r.concurrency == level and r.lag_p99 is not None]
        axes.scatter(
            [r.calls_per_reply for r in points],
            [r.lag_p99 or 0.0 for r in points],
            marker=markers[index % len(markers)],
            s=60,
            label=f"{level} concurrent",
        )
        for rank, r in enumerate(sorted(points, key=lambda p: p.lag_p99 or 0.0)):
            # Lag is measured on delivered answers only: say how many were lost.
            lost = r.undelivered / r.replies if r.replies else 0.0
            label = r.strategy if lost < 0.005 else f"{r.strategy} ({lost:.0%} lost)"
            axes.annotate(
                label,
                (r.calls_per_reply, r.lag_p99 or 0.0),
                textcoords="offset points",
                xytext=(6, 4 + 9 * (rank % 3)),  # stagger labels of nearby points
                fontsize=7,
            )
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("DingTalk API calls per reply (log scale)")
    axes.set_ylabel("p99 lag, model → visible (s)")
    axes.set_title("bridge bench: pacing strategies (lower left is better)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
