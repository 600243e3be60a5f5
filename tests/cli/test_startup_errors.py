"""Start-up mistakes, each through the real command: one `error:` line, its exit code."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from bridge.emulator.server import RunningEmulator
from bridge.errors import ExitCode
from tests.child import ROOT, write_config
from tests.cli.conftest import assert_one_error, run_bridge

UNUSED = "http://127.0.0.1:9"
"""A URL nothing listens on: these mistakes must be found before any network call."""


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket holds (listening) during the test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_port_in_use_names_host_and_port(tmp_path: Path, taken_port: int) -> None:
    """`bridge serve` on a taken port: one line naming host:port, exit 1, before the network."""
    config = write_config(tmp_path / "bridge.toml", UNUSED, http=True, port=taken_port)
    result = run_bridge("serve", "--config", str(config))
    assert_one_error(result, 1, f"cannot listen on 127.0.0.1:{taken_port}", "in use")


def test_emulator_port_in_use_names_host_and_port(taken_port: int) -> None:
    """`bridge emulator` on a taken port: one line naming host:port, exit 1."""
    result = run_bridge("emulator", "--port", str(taken_port))
    assert_one_error(result, 1, f"cannot listen on 127.0.0.1:{taken_port}", "in use")


def test_dev_port_in_use_names_host_and_port(taken_port: int) -> None:
    """`bridge dev` on a taken port: one line naming host:port, exit 1."""
    result = run_bridge("dev", "--port", str(taken_port))
    assert_one_error(result, 1, f"cannot listen on 127.0.0.1:{taken_port}", "in use")


@pytest.mark.parametrize("command", ["serve", "send"])
def test_missing_prompt_names_the_file(tmp_path: Path, command: str) -> None:
    """A prompt template that does not exist: one line naming its path, exit 2."""
    config = write_config(tmp_path / "bridge.toml", UNUSED, assistant='prompt = "nope"')
    extra = ["--to", "user:someone", "hello"] if command == "send" else []
    result = run_bridge(command, "--config", str(config), *extra)
    assert_one_error(result, 2, str(ROOT / "prompts" / "nope.md"), "not found")


def test_unknown_prompt_variable_names_file_and_line(tmp_path: Path) -> None:
    """A template using an unknown variable: one line naming file, line and variable, exit 2."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "default.md").write_text("You are {assistant_name}.\nHi {user}!\n", "utf-8")
    config = write_config(tmp_path / "bridge.toml", UNUSED, prompts_dir=str(prompts))
    result = run_bridge("serve", "--config", str(config))
    assert_one_error(result, 2, "default.md", "line 2", "unknown variable 'user'")


def test_no_assistants_is_one_line(tmp_path: Path) -> None:
    """A file without [[assistants]]: one line naming the file, exit 2."""
    config = tmp_path / "bridge.toml"
    config.write_text('[llm]\nmodel = "x"\n', encoding="utf-8")
    result = run_bridge("serve", "--config", str(config))
    assert_one_error(result, 2, str(config), "at least one [[assistants]]")


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    """A --config that does not exist: one line naming it, exit 2."""
    result = run_bridge("serve", "--config", str(tmp_path / "absent.toml"))
    assert_one_error(result, 2, "absent.toml", "cannot read")


@pytest.mark.anyio
async def test_corrupt_state_file_is_one_line(emulator: RunningEmulator, tmp_path: Path) -> None:
    """A state file that is not a database: one line naming it, exit 5 (the state's code)."""
    state = tmp_path / "state.sqlite3"
    state.write_bytes(b"this is not a database, just some bytes " * 100)
    config = write_config(tmp_path / "bridge.toml", emulator.base_url, state=str(state))
    result = await anyio.to_thread.run_sync(run_bridge, "serve", "--config", str(config))
    assert_one_error(result, ExitCode.STATE, str(state))


@pytest.mark.anyio
async def test_wrong_credentials_stop_serve_naming_the_assistant(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """DingTalk refuses the client secret: one line naming the assistant, exit 3."""
    config = write_config(tmp_path / "bridge.toml", emulator.base_url)
    config.write_text(
        config.read_text("utf-8").replace('"dev-secret"', '"not-the-secret"'), "utf-8"
    )
    result = await anyio.to_thread.run_sync(run_bridge, "serve", "--config", str(config))
    assert_one_error(result, 3, "assistant 'dev'", "invalidClientIdOrSecret")
