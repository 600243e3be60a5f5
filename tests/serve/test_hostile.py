"""A real `bridge serve` process under attack stays up, answers, and keeps its log small.

Garbage through every door (surrogates, deep JSON, absurd numbers, a tab in a webhook,
a 2 MiB Stream frame, hundreds of half-sent requests), then the file-descriptor limit:
the process must still be running, /healthz must answer, a normal message must get its
answer, and the log must not balloon. The process runs against the emulator (in this
process) over loopback; nothing waits a fixed time but the server's own deadlines.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import httpx2
import pytest

from bridge.dingtalk.signature import sign
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.server import RunningEmulator
from tests.child import BRIDGE, CLIENT_ID, SECRET, reaped
from tests.child import write_config as child_config
from tests.serve.conftest import ACTION_TOKEN, PUSH_TOKEN, answer_in


def write_config(base_url: str, tmp_path: Path) -> Path:
    """Both doors open, the push API and actions on, short header and body timeouts."""
    return child_config(
        tmp_path / "bridge.toml",
        base_url,
        assistant=f'action_token = "{ACTION_TOKEN}"',
        http=True,
        port=0,
        push_token=PUSH_TOKEN,
        header_timeout=1.0,
        body_timeout=1.0,
    )


@asynccontextmanager
async def bridge_serving(
    config: Path, log: Path, control: EmulatorControl, *, max_files: int | None = None
) -> AsyncIterator[tuple[anyio.abc.Process, str]]:
    """`bridge serve` as a child process (under ``ulimit -n max_files``); its HTTP URL."""
    command = [BRIDGE, "serve", "--config", str(config)]
    if max_files is not None:
        command = ["sh", "-c", f"ulimit -n {max_files} && exec {shlex.join(command)}"]
    with log.open("ab") as out:
        process = await anyio.open_process(command, stdout=out, stderr=out)
    async with reaped(process):
        found = await log_shows(log, r"listening on (http://\S+)", process)
        await control.wait_connections(1, client_id=CLIENT_ID, wait=30)
        yield process, found.group(1)


async def log_shows(
    log: Path, pattern: str, process: anyio.abc.Process, within: float = 30
) -> re.Match[str]:
    """Poll the child's log (a file has no event to wait on) until ``pattern`` appears."""
    with anyio.fail_after(within):
        for _ in itertools.count():
            text = await anyio.Path(log).read_text()
            if found := re.search(pattern, text):
                return found
            assert process.returncode is None, text
            await anyio.sleep(0.05)
    raise AssertionError("unreachable")


async def still_serving(
    process: anyio.abc.Process, url: str, http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """Alive, healthy, and a normal message is answered."""
    assert process.returncode is None
    assert (await http.get(f"{url}/healthz")).status_code == 200
    said = await control.inbound("alice", "cid-alice", "你还在吗？")
    answer = await answer_in(control, "cid-alice", said.message.created_at)
    assert answer.state == "finished"


def signed() -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {"timestamp": stamp, "sign": sign(stamp, SECRET)}


def frame(message_id: str, data: str) -> str:
    headers = {"messageId": message_id, "topic": "/v1.0/im/bot/messages/get"}
    return json.dumps({"specVersion": "1.0", "type": "CALLBACK", "headers": headers, "data": data})


@pytest.mark.anyio
async def test_garbage_through_every_door_leaves_the_process_serving(
    emulator: RunningEmulator, http: httpx2.AsyncClient, tmp_path: Path
) -> None:
    """After surrogates, deep JSON, huge numbers, bad URLs, a 2 MiB frame and slow clients."""
    control = EmulatorControl(http, emulator.base_url)
    log = tmp_path / "bridge.log"
    sample = (await control.inbound("alice", "cid-alice", "x", deliver="none")).chatbot_message
    attacks = [
        {**sample, "msgId": "a1", "text": {"content": "\ud800 \x00"}, "senderNick": "\udfff"},
        {**sample, "msgId": "a2", "conversationId": "cid\ud800"},
        {**sample, "msgId": "a3", "sessionWebhook": sample["sessionWebhook"] + "\tx"},
        {**sample, "msgId": "a4", "sessionWebhookExpiredTime": 10**300},
        {**sample, "msgId": "a5", "text": ["not", "an", "object"]},
    ]
    bodies = [json.dumps(a) for a in attacks] + ['{"a":' + "[" * 5000 + "]" * 5000 + "}"]
    async with bridge_serving(write_config(emulator.base_url, tmp_path), log, control) as (
        process,
        url,
    ):
        for body in bodies:
            response = await http.post(f"{url}/dingtalk/dev/robot", content=body, headers=signed())
            assert response.status_code in (200, 400), response.text
            action = await http.post(
                f"{url}/dingtalk/dev/action",
                content=body,
                headers={"Authorization": f"Bearer {ACTION_TOKEN}"},
            )
            assert action.status_code == 400, action.text
            push = await http.post(
                f"{url}/v1/push", content=body, headers={"Authorization": f"Bearer {PUSH_TOKEN}"}
            )
            assert push.status_code == 400, push.text
            await control.inject(frame(f"f-{len(body)}", body), client_id=CLIENT_ID)
        big = {**sample, "msgId": "big", "text": {"content": "长" * 700_000}}
        await control.inject(frame("f-big", json.dumps(big)), client_id=CLIENT_ID)
        [ack] = await control.acks(message_id="f-big", count=1)
        assert ack.code == 400
        host, port = url.removeprefix("http://").split(":")
        slow = [await anyio.connect_tcp(host, int(port)) for _ in range(300)]
        for sock in slow:
            await sock.send(b"POST /dingtalk/dev/robot HTTP/1.1\r\nHost: x\r\n")
        assert (await http.get(f"{url}/healthz")).status_code == 200
        with anyio.fail_after(20):
            for sock in slow:  # closed by the server after header_timeout
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
                    await sock.receive()
                await sock.aclose()
        refused = (await http.get(f"{url}/healthz")).json()["refused"]
        assert refused["late_clients"] >= 300
        assert (refused["oversized_frames"], refused["failed_frames"]) == (1, 0)
        await still_serving(process, url, http, control)
        acks = await control.acks()
    assert all(a.code != 500 for a in acks)
    assert log.stat().st_size < 1_000_000
    assert "Traceback" not in log.read_text()


@pytest.mark.anyio
async def test_at_the_file_descriptor_limit_the_process_lives_and_logs_little(
    emulator: RunningEmulator, http: httpx2.AsyncClient, tmp_path: Path
) -> None:
    """With 300 connections against ulimit -n 128: no crash, a few log lines, then service."""
    control = EmulatorControl(http, emulator.base_url)
    log = tmp_path / "bridge.log"
    config = write_config(emulator.base_url, tmp_path)
    async with bridge_serving(config, log, control, max_files=128) as (process, url):
        host, port = url.removeprefix("http://").split(":")
        flood = [await anyio.connect_tcp(host, int(port)) for _ in range(300)]
        # The process runs out of descriptors, and says so.
        await log_shows(log, "out of system resource", process, within=20)
        with anyio.fail_after(30):  # heads never come: every connection is closed in turn
            for sock in flood:
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
                    await sock.receive()
                await sock.aclose()
        await still_serving(process, url, http, control)
    text = log.read_text()
    assert text.count("out of system resource") <= 10
    assert log.stat().st_size < 1_000_000
