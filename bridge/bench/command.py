"""``bridge bench``: the pacing strategies side by side, and the bridge at scale.

A thin shell over ``runner.run_bench``: it reads the options, shows a progress bar on
stderr while the phases run, prints the table and the targets check on stdout, and
writes the JSON and the PNG chart when asked. By default every strategy runs: ``bridge``
and each peer twice, plain and ``+budget`` (``strategies``' docstring says why);
``--strategies`` picks a subset by name or pattern. ``--quick`` is the small run (20
replies, 10 at a time, a few minutes); without it the scale series runs (1, 100 and
1,000 concurrent conversations) and takes the better part of an hour. ``--instances N``
shares each phase among N bridge processes on one Redis (started for the run), which
keep to one rate budget there, as N ``bridge serve`` instances do: rows per instance
(``bridge @1``…) and in total (the plain name; the targets and the chart use those).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import typer

from bridge.console import run_reporting

if TYPE_CHECKING:
    from bridge.bench.runner import BenchSettings

__all__ = ["bench", "parse_counts"]

QUICK_CONCURRENCY = "10"
QUICK_REPLIES = 20
FULL_CONCURRENCY = "1,100,1000"
#: How the figures are taken, written into the JSON beside them.
MEASUREMENT = {
    "times": "the machine's clock, read by the emulator children: a character leaving the "
    "simulated model, and each visible change of the bot's message",
    "process": "each phase (strategy × concurrency) runs the bridge side in a fresh child "
    "process; DingTalk's emulator and the simulated model run in two other children for "
    "the whole run",
    "cpu_seconds": "user + system CPU time of the phase child while it answers the "
    "measured replies (after one unmeasured warm-up reply)",
    "peak_rss_mb": "the phase child's resident set, sampled every 100 ms, at its peak",
    "rss_per_conversation_kb": "(peak resident set − resident set after the warm-up) ÷ "
    "concurrent conversations",
    "instances": "with --instances N, each phase runs N phase children at once, the replies "
    "dealt out among them, all on one rate budget in one Redis; an instance's row is its "
    "own replies and process, the total row sums CPU and memory and takes the longest wall",
}


def parse_counts(text: str, option: str) -> tuple[int, ...]:
    """``"1,100,1000"`` → ``(1, 100, 1000)``; every count must be a positive integer."""
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise typer.BadParameter(f"{option} needs positive integers, got {text!r}")
    return counts


def bench(
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A small run: 20 replies, 10 at a time (a few minutes)."),
    ] = False,
    concurrency: Annotated[
        str | None,
        typer.Option(help="Concurrent conversations, comma-separated for a scale series."),
    ] = None,
    replies: Annotated[
        int | None,
        typer.Option(min=1, help="Replies per strategy and level (default: by concurrency)."),
    ] = None,
    strategies: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated strategy names or patterns (default: all). Each peer runs "
            "plain (no client-side rate budget: per-chunk, fixed-800ms, every-8-chunks, "
            "time-or-size) and behind bridge's budget (the same names + '+budget'); e.g. "
            "'bridge,*+budget' compares pacing rules alone."
        ),
    ] = None,
    qps: Annotated[int, typer.Option(min=1, help="DingTalk's limit per app and API.")] = 20,
    instances: Annotated[
        int,
        typer.Option(
            min=1,
            help="Bridge processes per phase, sharing one rate budget on a Redis the bench "
            "starts (redis-server on PATH); figures per instance and in total.",
        ),
    ] = 1,
    ttft: Annotated[float, typer.Option(min=0, help="Model: seconds to first token.")] = 0.3,
    tps: Annotated[
        float, typer.Option(min=0.1, help="Model: tokens (characters) per second.")
    ] = 40,
    chunk_chars: Annotated[int, typer.Option(min=1, help="Model: characters per chunk.")] = 2,
    long_chars: Annotated[int, typer.Option(min=1, help="Mean length of a long answer.")] = 240,
    seed: Annotated[int, typer.Option(help="Seed of the reply mix.")] = 7,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write every figure to this JSON file.")
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="Write the calls-vs-lag chart to this PNG file.")
    ] = None,
    close_timeout: Annotated[
        float | None,
        typer.Option(min=0.1, help="Override [pacing] close_timeout (default: production's)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the bridge's warnings and errors.")
    ] = False,
) -> None:
    """Run the production relay against the emulator with every pacing strategy."""
    from bridge.bench.strategies import STRATEGIES, select

    # Usage errors first, before the emulator and the chart are imported.
    levels = parse_counts(
        concurrency or (QUICK_CONCURRENCY if quick else FULL_CONCURRENCY), "--concurrency"
    )
    try:
        chosen = select(strategies) if strategies else STRATEGIES
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--strategies") from None

    from bridge.bench.chart import write_chart
    from bridge.bench.report import COST, FLOOR, PACING, render_table, write_json
    from bridge.bench.runner import BenchSettings, Progress, run_bench
    from bridge.bench.scenario import Mix
    from bridge.bench.targets import render_targets, targets
    from bridge.config import PacingConfig
    from bridge.emulator.model.script import ModelSpeed

    # Failed replies are counted in the figures; their log lines would bury the table.
    logging.basicConfig(level=logging.WARNING if verbose else logging.CRITICAL, stream=sys.stderr)
    settings = BenchSettings(
        strategies=chosen,
        concurrency=levels,
        replies=replies if replies is not None else (QUICK_REPLIES if quick else None),
        qps=qps,
        speed=ModelSpeed(ttft=ttft, tokens_per_second=tps, chunk_chars=chunk_chars),
        mix=Mix(long_chars=long_chars),
        seed=seed,
        log_level=logging.WARNING if verbose else logging.CRITICAL,
        instances=instances,
        pacing=PacingConfig()
        if close_timeout is None
        else PacingConfig(close_timeout=close_timeout),
    )
    total = sum(settings.scenario(c).replies for c in levels) * len(chosen)
    started = time.monotonic()
    done_by_phase: dict[int, int] = {}
    with typer.progressbar(
        length=total, label="bench", file=sys.stderr, show_pos=True, hidden=not progress
    ) as bar:

        def advance(now: Progress) -> None:
            shown = sum(done_by_phase.values())
            done_by_phase[now.phase] = now.done
            bar.label = f"{now.strategy} ×{now.concurrency} ({now.phase}/{now.phases})"
            bar.update(sum(done_by_phase.values()) - shown)

        # One line and the exit code for bridge's, the emulator's and a listener's errors.
        rows = run_reporting(lambda: anyio.run(run_bench, settings, advance))
    elapsed = time.monotonic() - started
    totals = [row for row in rows if row.instance is None]
    found = targets(totals, settings.pacing.min_interval, settings.pacing.oneshot_pressure)
    typer.echo("Pacing (seconds; lag = model emits a character → it is visible in DingTalk)")
    typer.echo(render_table(rows, PACING))
    typer.echo("")
    typer.echo(
        "Cost and safety (CPU and memory: each phase's bridge side, in a fresh process of "
        "its own; DingTalk's emulator and the model run in two others)"
    )
    typer.echo(render_table(rows, COST))
    typer.echo("")
    typer.echo(
        "Against the floor (one call per reply: replies ÷ QPS is the least time the level's "
        "replies can take; end→final = the model's last character → the final text visible)"
    )
    typer.echo(render_table(rows, FLOOR))
    typer.echo("")
    typer.echo("Targets (bridge against its peers; measured, not asserted):")
    typer.echo(render_targets(found))
    typer.echo("")
    shared = f" among {instances} bridge processes on one Redis" if instances > 1 else ""
    typer.echo(
        f"{total} replies per run{shared} in {elapsed:.0f} s; QPS limit {qps}; model "
        f"{ttft:g} s to first token, {tps:g} tokens/s, {chunk_chars} characters per chunk."
    )
    if json_file is not None:
        write_json(json_file, rows, found, _settings_document(settings, sys.argv))
        typer.echo(f"figures written to {json_file}", err=True)
    if chart is not None:
        run_reporting(lambda: write_chart(chart, totals))
        typer.echo(f"chart written to {chart}", err=True)


def _settings_document(settings: BenchSettings, argv: list[str]) -> dict[str, Any]:
    return {
        "command": " ".join(["bridge", *argv[1:]]) if argv else "bridge bench",
        "strategies": [
            {"name": s.name, "rule": s.rule, "shares_budget": s.shares_budget}
            for s in settings.strategies
        ],
        "concurrency": list(settings.concurrency),
        "replies": [settings.scenario(c).replies for c in settings.concurrency],
        "qps": settings.qps,
        "instances": settings.instances,
        "model_speed": settings.speed.model_dump(mode="json"),
        "mix": asdict(settings.mix),
        "pacing": settings.pacing.model_dump(mode="json"),
        "seed": settings.seed,
        "measurement": MEASUREMENT,
    }
