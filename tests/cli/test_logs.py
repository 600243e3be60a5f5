"""What the running commands write to stderr: JSON lines on request, and a start-up summary."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.model.script import ModelFault, SpeedUpdate
from bridge.emulator.server import RunningEmulator
from tests.child import write_config
from tests.cli.conftest import bridge_process
from tests.serve.conftest import answer_in

pytestmark = pytest.mark.anyio

KEYS = {"time", "level", "logger", "message"}


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    """Every line as a JSON object with the four keys every line has (or the test fails)."""
    objects = [json.loads(line) for line in lines]
    for line in objects:
        assert set(line) >= KEYS, line
    return objects


async def test_serve_json_logs_are_json_lines_with_the_replys_ids(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """`serve --log-format json`: every stderr line is JSON; a reply's lines carry its ids."""
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=200))
    config = write_config(tmp_path / "bridge.toml", emulator.base_url)
    model_url = f"{emulator.base_url}/v1"
    async with (
        bridge_process("serve", "--config", str(config), "--log-format", "json") as serve,
        httpx2.AsyncClient(timeout=30) as http,
    ):
        control = EmulatorControl(http, emulator.base_url)
        await serve.line(lambda text: "serving: " in text)
        await control.wait_connections(1, client_id="dingbridge-dev", wait=20)
        said = await control.inbound("alice", "cid-alice", "讲个故事 [[len=600]]")
        streamed = await answer_in(control, "cid-alice", said.message.created_at)
        emulator.emulator.model.add_fault(ModelFault(kind="drop", after_chunks=3))
        said = await control.inbound("alice", "cid-alice", "再讲一个 [[len=600]]")
        broken = await answer_in(control, "cid-alice", said.message.created_at)
        assert await serve.stop(signal.SIGTERM) == 0
    assert streamed.state == "finished"
    assert broken.text.endswith("（回答中断，请稍后重试）")
    lines = parsed(serve.stderr)
    [summary] = [line for line in lines if line["message"].startswith("serving: ")]
    assert summary["level"] == "INFO"
    in_reply = [line for line in lines if "reply" in line]
    assert len({line["reply"] for line in in_reply}) == 2, lines
    for line in in_reply:
        assert line["conversation"] == "cid-alice", line
    [failed] = [line for line in lines if line["message"].startswith("model stream failed")]
    assert failed["message"] == (
        f"model stream failed (interrupted): model endpoint {model_url}"
        " closed the connection mid-answer"
    )
    assert failed["level"] == "WARNING"
    assert failed["reply"]


async def test_log_format_key_and_the_flag_wins(emulator: RunningEmulator, tmp_path: Path) -> None:
    """`[serve] log_format = "json"` gives JSON lines; `--log-format text` overrides it."""
    config = write_config(tmp_path / "bridge.toml", emulator.base_url, log_format="json")
    async with bridge_process("serve", "--config", str(config)) as keyed:
        await keyed.line(lambda text: "serving: " in text)
        assert await keyed.stop() == 0
    assert parsed(keyed.stderr)
    async with bridge_process("serve", "--config", str(config), "--log-format", "text") as text:
        await text.line(lambda text: "serving: " in text)
        assert await text.stop() == 0
    assert not any(line.startswith("{") for line in text.stderr)
    assert any(" INFO " in line and "serving: " in line for line in text.stderr)


@pytest.mark.parametrize("command", [["dev"], ["emulator"]])
async def test_dev_and_emulator_take_log_format_json(command: list[str]) -> None:
    """`bridge dev` and `bridge emulator` write only JSON lines to stderr with the flag."""
    async with bridge_process(*command, "--port", "0", "--log-format", "json") as running:
        await running.line(lambda text: "http://127.0.0.1:" in text, stdout=True)
        assert await running.stop(signal.SIGINT) == 130
    parsed(running.stderr)


async def test_unreachable_model_warns_with_its_url_and_serve_starts(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A model endpoint that refuses connections: a WARNING naming it, then serve runs."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{holder.getsockname()[1]}/v1"
        config = write_config(tmp_path / "bridge.toml", emulator.base_url)
        config.write_text(
            config.read_text("utf-8").replace(f'"{emulator.base_url}/v1"', f'"{url}"'), "utf-8"
        )
        async with bridge_process("serve", "--config", str(config)) as serve:
            warning = await serve.line(lambda text: " WARNING " in text)
            summary = await serve.line(lambda text: "serving: " in text)
            with anyio.fail_after(20):
                assert await serve.stop() == 0
    assert f"model endpoint {url} is unreachable (connection refused)" in warning
    assert f"model simulated at {url}" in summary
