"""The ``bridge`` command line: the user's surface (design.md §5).

Each command is a thin shell: it reads options, builds what it needs, runs it with
``anyio.run`` and turns a ``BridgeError`` into one clear line on stderr and the exit code
of its branch (``bridge.errors.ExitCode``). Tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer

from bridge.config import config_to_text, load_config
from bridge.errors import BridgeError, ExitCode

app = typer.Typer(
    name="bridge",
    help="Put an LLM behind a DingTalk AI assistant, shown as a live typewriter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect and validate configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

T = TypeVar("T")

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx2 logs every request URL at INFO; webhook URLs are credentials.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpcore2").setLevel(logging.WARNING)


def _run(action: Callable[[], T]) -> T:
    """Run ``action``, mapping bridge errors and Ctrl-C to one line and an exit code."""
    try:
        return action()
    except BridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="The TOML configuration file.")],
) -> None:
    """Validate FILE and print the resolved configuration, secrets masked."""
    config = _run(lambda: load_config(file, os.environ))
    typer.echo(config_to_text(config), nl=False)
    typer.echo(f"# {file}: OK", err=True)


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    verbose: Verbose = False,
) -> None:
    """Run the local DingTalk emulator (OpenAPI, webhooks, simulated model, control API)."""
    from bridge.emulator.server import serve
    from bridge.emulator.state import Emulator

    _setup_logging(verbose)
    world = Emulator.with_defaults()
    typer.echo(f"DingTalk emulator on http://{host}:{port}  (control API: /_emulator/)")
    _run(lambda: anyio.run(serve, world, host, port))


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the sandbox.")] = 8765,
    verbose: Verbose = False,
) -> None:
    """The local sandbox. For now: the emulator with its default world."""
    emulator(host=host, port=port, verbose=verbose)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
