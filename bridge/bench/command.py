"""``bridge bench``: placeholder until the benchmark lands."""

from __future__ import annotations

import typer


def bench() -> None:
    """The benchmark (being built)."""
    typer.echo("error: the benchmark is not built yet", err=True)
    raise typer.Exit(1)
