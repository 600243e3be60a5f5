"""`bridge emulator --print-config`: a config that works, and the README's recipe end to end."""

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
from anyio.streams.text import TextReceiveStream

from bridge.config import parse_config
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.errors import EmulatorError
from bridge.emulator.printed_config import EMULATOR_TEMPLATE, Prepared, config_text, prepare
from bridge.emulator.server import RunningEmulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_APP_NAME, DEFAULT_SECRET
from bridge.startup import check_startup

BRIDGE = str(Path(sys.executable).parent / "bridge")
ROOT = Path(__file__).resolve().parents[2]


def test_printed_config_passes_the_start_up_checks() -> None:
    """The text is a complete config bridge accepts: emulator URLs, app, template."""
    prepared = Prepared(base_url="http://127.0.0.1:8765", app_name=DEFAULT_APP_NAME)
    text = config_text(prepared, prompts_dir=ROOT / "prompts")
    config = parse_config(text, {}, source="bridge.toml")
    check_startup(config, source="bridge.toml")
    dingtalk = config.dingtalk
    assert (dingtalk.api_base, dingtalk.oapi_base) == (prepared.base_url, prepared.base_url)
    assert dingtalk.reply_hosts == ("127.0.0.1:8765",)
    [assistant] = config.assistants
    assert (assistant.client_id, assistant.client_secret.get_secret_value()) == (
        DEFAULT_APP,
        DEFAULT_SECRET,
    )
    assert assistant.display_names == (DEFAULT_APP_NAME,)
    assert assistant.llm.base_url == "http://127.0.0.1:8765/v1"
    template_id, key = EMULATOR_TEMPLATE
    assert (assistant.delivery.ai_template_id, assistant.delivery.ai_template_key) == (
        template_id,
        key,
    )
    assert (config.serve.stream, config.serve.http) == (True, False)
    assert "not a secret" in text


@pytest.mark.anyio
async def test_prepare_creates_the_template_the_config_names(
    control: EmulatorControl, emulator: RunningEmulator
) -> None:
    """The template is created through the control API; the app's name is read there."""
    template_id, key = EMULATOR_TEMPLATE
    before = {t.template_id for t in (await control.world()).templates}
    assert template_id not in before
    prepared = await prepare(control, emulator.base_url)
    after = {t.template_id: t for t in (await control.world()).templates}
    assert after[template_id].streaming_variables == [key]
    assert prepared == Prepared(emulator.base_url, DEFAULT_APP_NAME)


@pytest.mark.anyio
async def test_prepare_refuses_a_world_without_the_built_in_app(
    control: EmulatorControl, emulator: RunningEmulator
) -> None:
    """An emulator reset without defaults has no app to configure: say so."""
    await control.reset(defaults=False)
    with pytest.raises(EmulatorError, match=DEFAULT_APP):
        await prepare(control, emulator.base_url)


# ------------------------------------------------------------------------ the recipe


@asynccontextmanager
async def running(*args: str, log: Path) -> AsyncIterator[Process]:
    """``bridge ARGS`` as a child process; SIGTERM at the end, killed if it lingers."""
    with log.open("ab") as out:
        process = await anyio.open_process([BRIDGE, *args], stderr=out)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(15, shield=True):
                await process.wait()
        if process.returncode is None:
            process.kill()
            with anyio.move_on_after(5, shield=True):
                await process.wait()


async def first_line(process: Process) -> str:
    """The first line the process prints on stdout."""
    assert process.stdout is not None
    text = ""
    with anyio.fail_after(20):
        async for chunk in TextReceiveStream(process.stdout):
            text += chunk
            if "\n" in text:
                return text.split("\n", 1)[0]
    raise AssertionError(f"no line on stdout: {text!r}")


@pytest.mark.anyio
async def test_readme_recipe_gets_a_streamed_answer(tmp_path: Path) -> None:
    """`bridge emulator`, `--print-config > bridge.toml`, `bridge serve`, a user speaks."""
    log = tmp_path / "processes.log"
    async with running("emulator", "--port", "0", log=log) as emulator_process:
        line = await first_line(emulator_process)
        url = line.split()[3]  # "DingTalk emulator on http://127.0.0.1:PORT  (…)"
        port = url.rsplit(":", 1)[1]
        printed = await anyio.run_process(
            [BRIDGE, "emulator", "--print-config", "--port", port], check=False
        )
        assert printed.returncode == 0, printed.stderr.decode()
        config = tmp_path / "bridge.toml"
        config.write_bytes(printed.stdout)
        async with (
            httpx2.AsyncClient(timeout=30, trust_env=False) as http,
            running("serve", "--config", str(config), log=log) as serving,
        ):
            control = EmulatorControl(http, url)
            await control.wait_connections(1, client_id=DEFAULT_APP, wait=30)
            with anyio.fail_after(30):
                async with control.events() as events:
                    said = await control.inbound("alice", "cid-alice", "你好 [[len=600]]")
                    async for event in events:
                        message = event.message
                        if (
                            message is not None
                            and message.sender_kind == "bot"
                            and message.state == "finished"
                        ):
                            break
            [answer] = [m for m in await control.transcript("cid-alice") if m.sender_kind == "bot"]
            serving.send_signal(signal.SIGTERM)
            with anyio.fail_after(20):
                assert await serving.wait() == 0, log.read_text()
    assert said.delivery is not None
    assert said.delivery.how == "stream"
    assert answer.state == "finished"
    assert len(answer.text) == 600
    streamed = [c for c in answer.changes if c.state == "inputting"]
    assert len(streamed) >= 2, "the answer grew in several visible steps"
    assert emulator_process.returncode == 0


@pytest.mark.anyio
async def test_print_config_without_an_emulator_is_one_line(tmp_path: Path) -> None:
    """Nothing listening: one error line saying to start the emulator, exit 1."""
    result = await anyio.run_process(
        [BRIDGE, "emulator", "--print-config", "--port", "9"], check=False
    )
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "start `bridge emulator` first" in lines[0]
