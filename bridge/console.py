"""Plumbing every command shares: logging set-up, and errors as one line and an exit code.

Logs go to stderr as text lines or, for log collectors, as JSON lines (``--log-format``).

Commands live with their feature (``bridge.cli``, ``bridge.sandbox.command``,
``bridge.bench.command``); they all report failures the same way: a ``BridgeError``
becomes ``error: <message>`` on stderr and the exit code of its branch, Ctrl-C becomes
"interrupted" and 130. Tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, TypeVar

import typer

from bridge.errors import BridgeError, ExitCode
from bridge.logcontext import FIELDS
from bridge.logcontext import install as install_log_context

T = TypeVar("T")


LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the reply's ids, traceback.

    For log collectors (journald, Loki, Elasticsearch…): every field is its own key, and a
    multi-line traceback stays inside one line's ``exc_info`` string.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, "")
            if value:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(verbose: bool, log_format: LogFormat = "text") -> None:
    """Log to stderr, at DEBUG with ``verbose``; never log credential-bearing URLs.

    ``text`` lines written while a reply is in flight end with its ids
    (``bridge.logcontext``); ``json`` lines carry them as keys.
    """
    install_log_context()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
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
