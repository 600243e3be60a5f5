"""Plumbing every command shares: logging set-up, and errors mapped to one line and an exit code.

Commands live with their feature (``bridge.cli``, ``bridge.sandbox.command``,
``bridge.bench.command``); they all report failures the same way: a ``BridgeError``
becomes ``error: <message>`` on stderr and the exit code of its branch, Ctrl-C becomes
"interrupted" and 130. Tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from bridge.errors import BridgeError, ExitCode
from bridge.logcontext import install as install_log_context

T = TypeVar("T")


def setup_logging(verbose: bool) -> None:
    """Log to stderr, at DEBUG with ``verbose``; never log credential-bearing URLs.

    Lines written while a reply is in flight end with its ids (``bridge.logcontext``).
    """
    install_log_context()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s",
        stream=sys.stderr,
    )
    # httpx2 logs every request URL at INFO; webhook URLs are credentials.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpcore2").setLevel(logging.WARNING)


def run_reporting(action: Callable[[], T]) -> T:
    """Run ``action``, mapping bridge errors and Ctrl-C to one line and an exit code."""
    try:
        return action()
    except BridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
