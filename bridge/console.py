"""Plumbing every command shares: logging set-up, errors as one line, signals as exit codes.

Logs go to stderr as text lines or, for log collectors, as JSON lines (``--log-format``).

Commands live with their feature (``bridge.cli``, ``bridge.sandbox.command``,
``bridge.bench.command``); they all report failures the same way (``run_reporting``): a
``BridgeError`` becomes ``error: <message>`` on stderr and the exit code of its branch
(``bridge.errors.ExitCode``); an ``EmulatorError`` (the emulator's own tree) and a
``ListenError`` (a port in use, from ``bridge.serving``) exit code 1; also when a task
group wrapped them; Ctrl-C before a command took over the signals becomes
"interrupted" and 130. Tracebacks are for bugs, not for bad input.

Long-running commands stop on SIGINT or SIGTERM themselves (``stop_signals``) and then
exit with ``exit_code_for`` the signal: 130 after Ctrl-C, 0 after SIGTERM (a supervisor's
ordinary stop).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Annotated, Literal, NoReturn, TypeVar

import anyio
import typer

from bridge.emulator.errors import EmulatorError
from bridge.errors import BridgeError, ExitCode
from bridge.logcontext import FIELDS
from bridge.logcontext import install as install_log_context
from bridge.serving import ListenError

T = TypeVar("T")

_EXPECTED = (BridgeError, EmulatorError, ListenError)
"""Failures of bad input or circumstance: one line, no traceback."""


LogFormat = Literal["text", "json"]

LogFormatOption = Annotated[
    LogFormat | None,
    typer.Option(
        "--log-format",
        help="Log lines as text, or as JSON objects for collectors "
        "(default: [serve] log_format, else text).",
    ),
]
"""The ``--log-format`` option every long-running command takes; the flag wins over the key."""

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
    # Python's warnings go through the same handler: with JSON, every line stays JSON.
    logging.captureWarnings(True)
    # httpx2 logs every request URL at INFO; webhook URLs are credentials.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpcore2").setLevel(logging.WARNING)


def run_reporting(action: Callable[[], T]) -> T:
    """Run ``action``, mapping expected failures and Ctrl-C to one line and an exit code.

    A task group may have wrapped the failure in an exception group: when every error in
    it is an expected one, the first is reported; anything else is a bug and keeps its
    traceback.
    """
    try:
        return action()
    except (*_EXPECTED, KeyboardInterrupt) as exc:
        _report(exc)
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if not leaves or not all(isinstance(e, _EXPECTED) for e in leaves):
            raise
        _report(leaves[0])


def _report(error: BaseException) -> NoReturn:
    if isinstance(error, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    if isinstance(error, EmulatorError):
        typer.echo(f"error: emulator: {error}", err=True)
        raise typer.Exit(int(ExitCode.FAILURE)) from None
    code = error.exit_code if isinstance(error, BridgeError) else ExitCode.FAILURE
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(int(code)) from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside ``group`` and its nested groups, in order."""
    found: list[BaseException] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found.extend(_leaves(error))
        else:
            found.append(error)
    return found


def exit_code_for(received: int | None) -> ExitCode:
    """The exit code after stopping on ``received``: 130 for SIGINT, else 0."""
    return ExitCode.INTERRUPTED if received == signal.SIGINT else ExitCode.OK


def stop_signals() -> AbstractContextManager[AsyncIterator[signal.Signals]]:
    """Receive SIGINT and SIGTERM as values instead of ``KeyboardInterrupt``.

    Enter it before start-up, so a Ctrl-C while starting ends the command cleanly too.
    """
    return anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)


def signal_name(received: int) -> str:
    """``SIGINT``, ``SIGTERM``…"""
    return signal.Signals(received).name
