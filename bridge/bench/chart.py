"""The benchmark's chart: calls per reply against p99 lag, one panel per concurrency level.

Each point is one strategy at one level. A pacing rule keeps its colour in every panel;
a filled marker is a run behind the shared client-side rate budget (``bridge`` and the
``+budget`` peers), a hollow one a run without (the plain peers), so a peer's two runs
sit side by side in the same colour. A strategy that lost answers is labelled with the
share it lost, in the panel's corner: its lag covers only the answers it delivered.

A run of one strategy only (a scale run, e.g. ``--strategies bridge``) gets one panel
instead, a point per level, labelled with it.

matplotlib (the ``bench`` extra) is imported only when a chart is asked for, with the
Agg backend, so no display is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bridge.bench.errors import BenchError
from bridge.bench.metrics import StrategyFigures
from bridge.bench.strategies import BUDGET_SUFFIX, STRATEGIES

__all__ = ["write_chart"]

#: One colour per pacing rule (matplotlib's default cycle), in registry order.
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _families() -> list[str]:
    names: list[str] = []
    for s in STRATEGIES:
        if s.family not in names:
            names.append(s.family)
    return names


#: Tick series on the log axis, sparsest first: the first giving three ticks is used.
_TICK_SERIES = ((1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0))


def _ticks(low: float, high: float) -> list[float]:
    """Round tick values between ``low`` and ``high``: at least three when the range allows."""
    ticks: list[float] = []
    for series in _TICK_SERIES:
        ticks = [
            step * 10.0**decade
            for decade in range(-1, 6)
            for step in series
            if low <= step * 10.0**decade <= high
        ]
        if len(ticks) >= 3:
            break
    return ticks


def _budgeted(name: str) -> bool:
    return name == "bridge" or name.endswith(BUDGET_SUFFIX)


def write_chart(path: Path, rows: Sequence[StrategyFigures]) -> None:
    """Write the chart of ``rows`` to ``path`` as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter
    except ImportError as exc:
        raise BenchError("the chart needs matplotlib: pip install 'bridge[bench]'") from exc
    if len({row.strategy for row in rows}) == 1:
        _one_strategy(path, rows)
        return
    families = _families()
    colour = {f: _COLOURS[i % len(_COLOURS)] for i, f in enumerate(families)}
    levels = sorted({row.concurrency for row in rows})
    width = 4.6 * len(levels) + 1.8
    figure, panels = plt.subplots(1, len(levels), figsize=(width, 5.2), dpi=110, squeeze=False)
    for axes, level in zip(panels[0], levels, strict=True):
        points = [r for r in rows if r.concurrency == level and r.lag_p99 is not None]
        lost: list[tuple[str, float, str]] = []
        for r in points:
            family = r.strategy.removesuffix(BUDGET_SUFFIX)
            tint = colour.get(family, "black")
            budgeted = _budgeted(r.strategy)
            axes.scatter(
                [r.calls_per_reply],
                [r.lag_p99 or 0.0],
                s=70 if budgeted else 90,
                facecolors=tint if budgeted else "none",
                edgecolors=tint,
                linewidths=1.6,
                zorder=3 if budgeted else 2,
            )
            share = r.undelivered / r.replies if r.replies else 0.0
            if share >= 0.005:
                lost.append((r.strategy, share, tint))
        if lost:
            # Lag covers delivered answers only: say, in the panel, who lost how many.
            lines = ["answers lost:", *(f"{name} {share:.0%}" for name, share, _ in lost)]
            tints = ["black", *(tint for _, _, tint in lost)]
            for index, (line, tint) in enumerate(zip(lines, tints, strict=True)):
                axes.text(
                    0.98,
                    0.97 - 0.05 * index,
                    line,
                    transform=axes.transAxes,
                    ha="right",
                    va="top",
                    fontsize=7,
                    color=tint,
                )
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(FixedLocator(_ticks(*axes.get_xlim())))
        axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        top = max((r.lag_p99 or 0.0 for r in points), default=1.0)
        # Headroom above the points for the "answers lost" lines.
        axes.set_ylim(0, top * (1.12 + (0.06 * (len(lost) + 1) if lost else 0.0)))
        axes.set_title(f"{level} concurrent conversation{'s' if level != 1 else ''}")
        axes.set_xlabel("DingTalk API calls per reply (log scale)")
        axes.grid(True, which="both", alpha=0.3)
    panels[0][0].set_ylabel("p99 lag, model → visible (s)")
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colour[f], markersize=8, label=f)
        for f in families
        if any(r.strategy.removesuffix(BUDGET_SUFFIX) == f for r in rows)
    ]
    handles += [
        Line2D([], [], marker="o", linestyle="", color="grey", label="filled: shared budget"),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markerfacecolor="none",
            color="grey",
            label="hollow: no client budget",
        ),
    ]
    figure.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    figure.suptitle("bridge bench: pacing strategies (lower left is better)")
    figure.tight_layout(rect=(0, 0, 1 - 1.8 / width, 1))
    figure.savefig(path)
    plt.close(figure)


def _one_strategy(path: Path, rows: Sequence[StrategyFigures]) -> None:
    """One strategy at several levels (a scale run): one panel, a point per level."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    points = sorted((r for r in rows if r.lag_p99 is not None), key=lambda r: r.concurrency)
    name = rows[0].strategy
    tint = _COLOURS[0] if name == "bridge" else "black"
    figure, axes = plt.subplots(figsize=(6.4, 5.2), dpi=110)
    axes.plot(
        [r.calls_per_reply for r in points],
        [r.lag_p99 or 0.0 for r in points],
        marker="o",
        color=tint,
    )
    for r in points:
        lost = r.undelivered / r.replies if r.replies else 0.0
        label = f"{r.concurrency}" + (f" ({lost:.0%} lost)" if lost >= 0.005 else "")
        axes.annotate(
            label,
            (r.calls_per_reply, r.lag_p99 or 0.0),
            textcoords="offset points",
            xytext=(7, 4),
            fontsize=8,
        )
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(FixedLocator(_ticks(*axes.get_xlim())))
    axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_ylim(bottom=0)
    axes.set_xlabel("DingTalk API calls per reply (log scale)")
    axes.set_ylabel("p99 lag, model → visible (s)")
    axes.set_title(f"bridge bench: {name} at each concurrency level (labelled)")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
