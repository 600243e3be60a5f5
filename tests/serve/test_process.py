"""`bridge serve` and `bridge send` as real processes: kill, restart, SIGTERM, proactive."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from anyio.abc import Process

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from bridge.emulator.model.script import SpeedUpdate
from bridge.emulator.server import RunningEmulator
from tests.serve.conftest import ROOT, answer_in

BRIDGE = str(Path(sys.executable).parent / "bridge")


def write_config(base_url: str, tmp_path: Path, *, grace: float = 10.0) -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(
        f"""
[dingtalk]
api_base = "{base_url}"
oapi_base = "{base_url}"
reply_hosts = ["{base_url.removeprefix('http://')}"]
retry = {{ backoff_initial = 0.05, backoff_max = 0.2 }}

[llm]
base_url = "{base_url}/v1"
model = "simulated"
max_retries = 0

[pacing]
oneshot_window = 0.3
min_interval = 0.3

[serve]
http = false
grace_period = {grace}
state = "{tmp_path / "state.sqlite3"}"
prompts_dir = "{ROOT / "prompts"}"

[[assistants]]
name = "dev"
client_id = "dingbridge-dev"
client_secret = "dev-secret"
""",
        encoding="utf-8",
    )
    return path


@asynccontextmanager
async def bridge_process(config: Path, log: Path) -> AsyncIterator[Process]:
    """`bridge serve --config` in a child process; killed if still running at the end."""
    with log.open("ab") as out:
        process = await anyio.open_process(
            [BRIDGE, "serve", "--config", str(config)], stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.move_on_after(10, shield=True):
            await process.wait()


async def first_change(control: EmulatorControl, conversation: str, state: str) -> MessageView:
    """Wait until a bot message of ``conversation`` reaches ``state``."""
    with anyio.fail_after(20):
        async with control.events() as events:
            async for event in events:
                message = event.message
                if (
                    message is not None
                    and message.conversation_id == conversation
                    and message.sender_kind == "bot"
                    and message.state == state
                ):
                    return message
    raise AssertionError("no such change")


@pytest.fixture
async def control(emulator: RunningEmulator, http: httpx2.AsyncClient) -> EmulatorControl:
    # Slow enough that an answer is still streaming when the process is stopped.
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=60))
    return EmulatorControl(http, emulator.base_url)


@pytest.mark.anyio
async def test_killed_mid_stream_then_restarted_leaves_nothing_open(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """SIGKILL while a message streams; the next start-up closes it with the notice."""
    config = write_config(emulator.base_url, tmp_path)
    log = tmp_path / "bridge.log"
    async with bridge_process(config, log) as first:
        await control.wait_connections(1, client_id="dingbridge-dev", wait=30)
        await control.inbound("alice", "cid-alice", "讲个长故事 [[len=3000]]")
        streaming = await first_change(control, "cid-alice", "inputting")
        first.kill()
        await first.wait()
    (stuck,) = await control.messages("preparing", "inputting")
    assert stuck.id == streaming.id

    async with bridge_process(config, log) as second:
        closed = await first_change(control, "cid-alice", "finished")
        assert await control.messages("preparing", "inputting") == []
        second.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):
            assert await second.wait() == 0
    assert closed.id == stuck.id
    assert closed.text.endswith("（回答中断，请稍后重试）"), log.read_text()


@pytest.mark.anyio
async def test_sigterm_lets_the_reply_in_flight_finish(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """SIGTERM stops intake but the answer being streamed completes and is closed."""
    config = write_config(emulator.base_url, tmp_path, grace=30.0)
    async with bridge_process(config, tmp_path / "bridge.log") as process:
        await control.wait_connections(1, client_id="dingbridge-dev", wait=30)
        said = await control.inbound("alice", "cid-alice", "慢慢说 [[len=120]]")
        await first_change(control, "cid-alice", "inputting")
        process.send_signal(signal.SIGTERM)
        answer = await answer_in(control, "cid-alice", said.message.created_at)
        with anyio.fail_after(30):
            assert await process.wait() == 0
    assert answer.state == "finished"
    emitted = emulator.emulator.model.emissions()[-1]
    assert answer.text == emitted.text.strip()
    assert await control.messages("preparing", "inputting") == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("to", "conversation"),
    [("user:union-alice", "cid-alice"), ("group:cid-group", "cid-group")],
    ids=["user", "group"],
)
async def test_bridge_send_reaches_a_user_and_a_group(
    emulator: RunningEmulator,
    control: EmulatorControl,
    tmp_path: Path,
    to: str,
    conversation: str,
) -> None:
    """`bridge send --to user:…|group:…` streams the answer there and exits 0."""
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=800))
    config = write_config(emulator.base_url, tmp_path)
    result = await anyio.run_process(
        [BRIDGE, "send", "--config", str(config), "--to", to, "每日提醒 [[len=400]]"],
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"delivered via ai_stepwise" in result.stderr
    bot = [m for m in await control.transcript(conversation) if m.sender_kind == "bot"]
    assert len(bot) == 1
    assert bot[0].state == "finished"
    assert bot[0].text == emulator.emulator.model.emissions()[-1].text.strip()
