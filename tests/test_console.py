"""Tests of bridge.console: expected failures as one line and an exit code, bugs as bugs."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable

import pytest
import typer

from bridge.console import JsonFormatter, exit_code_for, run_reporting
from bridge.emulator.errors import EmulatorError
from bridge.errors import ConfigError, ExitCode, LLMError, PlatformAuthError
from bridge.serving import ListenError


def reported(action: Callable[[], object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit code and the stderr text of ``run_reporting(action)``."""
    with pytest.raises(typer.Exit) as caught:
        run_reporting(action)
    return caught.value.exit_code, capsys.readouterr().err


def fail(error: BaseException) -> Callable[[], object]:
    def action() -> object:
        raise error

    return action


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (ConfigError("unknown key", file="b.toml", key="x"), 2, "error: b.toml: x: unknown key"),
        (PlatformAuthError("refused", operation="op"), 3, "error: op: refused"),
        (LLMError("cannot connect"), 4, "error: cannot connect"),
        (ListenError("cannot listen on 127.0.0.1:1: in use"), 1, "error: cannot listen on"),
        (EmulatorError("unknown user 'x'", status=404), 1, "error: emulator: unknown user 'x'"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_expected_failures_are_one_line_and_their_exit_code(
    capsys: pytest.CaptureFixture[str], error: BaseException, code: int, line: str
) -> None:
    """Each expected failure prints one line on stderr and exits with its branch's code."""
    exit_code, err = reported(fail(error), capsys)
    assert exit_code == code
    assert err.count("\n") == 1
    assert err.startswith(line)


def test_a_task_groups_wrapping_is_taken_off(capsys: pytest.CaptureFixture[str]) -> None:
    """An expected error inside (nested) exception groups is reported as itself."""
    inner = ExceptionGroup("inner", [ConfigError("no assistants", file="b.toml")])
    exit_code, err = reported(fail(ExceptionGroup("outer", [inner])), capsys)
    assert (exit_code, err) == (2, "error: b.toml: no assistants\n")


def test_a_bug_in_a_group_keeps_its_traceback() -> None:
    """A group holding anything unexpected is re-raised untouched: bugs are not hidden."""
    group = ExceptionGroup("g", [ConfigError("x"), ValueError("bug")])
    with pytest.raises(ExceptionGroup) as caught:
        run_reporting(fail(group))
    assert caught.value is group


def test_a_bug_keeps_its_traceback() -> None:
    """Anything else propagates as it is."""
    with pytest.raises(ZeroDivisionError):
        run_reporting(lambda: 1 / 0)


def test_exit_codes_after_a_signal() -> None:
    """Ctrl-C exits 130; SIGTERM (a supervisor's ordinary stop) and no signal exit 0."""
    assert exit_code_for(signal.SIGINT) == ExitCode.INTERRUPTED == 130
    assert exit_code_for(signal.SIGTERM) == ExitCode.OK
    assert exit_code_for(None) == ExitCode.OK


def test_json_lines_hold_time_level_logger_message() -> None:
    """A JSON log line is one object with the four keys and a traceback kept inside."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("once",), exc_info=sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR"
    assert parsed["logger"] == "x"
    assert parsed["message"] == "failed once"
    assert "RuntimeError: boom" in parsed["exc_info"]
