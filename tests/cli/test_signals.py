"""Stopping the long-running commands: SIGINT exits 130, SIGTERM 0, in order, no traceback."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from bridge.emulator.server import RunningEmulator
from tests.child import write_config
from tests.cli.conftest import bridge_process

pytestmark = pytest.mark.anyio


def _url(line: str) -> str:
    return next(word for word in line.split() if word.startswith("http://")).rstrip("/")


@pytest.mark.parametrize(
    ("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)], ids=["SIGINT", "SIGTERM"]
)
async def test_emulator_stops_on_a_signal(sent: signal.Signals, code: int) -> None:
    """`bridge emulator --port 0` prints its URL, serves, and exits 130 on Ctrl-C, 0 on TERM."""
    async with bridge_process("emulator", "--port", "0") as emulator:
        line = await emulator.line(lambda text: "DingTalk emulator on" in text, stdout=True)
        async with httpx2.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{_url(line)}/v1/models")).status_code == 200
        assert await emulator.stop(sent) == code
    assert "Traceback" not in "\n".join(emulator.stderr)


async def test_serve_exits_130_on_ctrl_c(emulator: RunningEmulator, tmp_path: Path) -> None:
    """`bridge serve` stops on SIGINT like on SIGTERM, and exits 130."""
    config = write_config(tmp_path / "bridge.toml", emulator.base_url)
    async with bridge_process("serve", "--config", str(config)) as serve:
        await serve.line(lambda text: "serving: " in text)
        assert await serve.stop(signal.SIGINT) == 130
    stderr = "\n".join(serve.stderr)
    assert "SIGINT: stopping intake" in stderr
    assert "Traceback" not in stderr


async def _ready(http: httpx2.AsyncClient, base: str) -> None:
    """Wait for the sandbox's /readyz: a message sent before its Stream connections are
    up would find no connection to be delivered on."""
    with anyio.fail_after(30):
        while True:
            if (await http.get(f"{base}/readyz")).status_code == 200:
                return
            await anyio.sleep(0.05)


async def test_dev_ctrl_c_mid_reply_closes_it_then_stops_the_emulator() -> None:
    """Ctrl-C in `bridge dev` while a reply streams: it is closed, then all stops, exit 130."""
    async with (
        bridge_process("dev", "--port", "0") as dev,
        httpx2.AsyncClient(timeout=10) as http,
    ):
        base = _url(await dev.line(lambda text: "chat page" in text, stdout=True))
        control = EmulatorControl(http, base)
        await _ready(http, base)
        speed = {"ttft": 0.05, "tokens_per_second": 40}
        (await http.put(f"{base}/_emulator/model/speed", json=speed)).raise_for_status()
        last: dict[str, MessageView] = {}
        async with control.events() as events:
            await control.inbound("alice", "cid-alice", "讲个长故事 [[len=3000]]")
            async for event in events:
                message = event.message
                if message is None or message.sender_kind != "bot":
                    continue
                last[message.id] = message
                if message.state == "inputting" and message.text:
                    dev.process.send_signal(signal.SIGINT)
                    break
            # The emulator's event stream ends only when the emulator stops: every change
            # the bridge made before that is seen here.
            with anyio.fail_after(30):
                async for event in events:
                    if event.message is not None and event.message.id in last:
                        last[event.message.id] = event.message
        with anyio.fail_after(30):
            code = await dev.process.wait()
    assert code == 130
    [reply] = last.values()
    assert reply.state in ("finished", "failed"), reply
    stderr = "\n".join(dev.stderr)
    assert "Traceback" not in stderr
    assert " ERROR " not in stderr, stderr
    assert "bridge dev: stopped" in stderr
