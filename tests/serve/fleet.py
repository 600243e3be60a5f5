"""Several `bridge serve` processes on one real Redis, and a user talking to them.

``fleet_of`` starts the instances, each a real child process with its HTTP doors on a
port of its own, all on one ``redis-server`` of the test, against the emulator in the
test's process. A user's message is recorded by the emulator (``deliver="none"``) and
its signed robot callback is posted by ``say`` to the instances the test chooses, so
Turns of one conversation arrive at different instances, and one message can be
delivered to two at once. ``all_answered`` waits for every expected answer and reads
them back per conversation, in order.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.abc import Process
from redis.asyncio import Redis

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.server import RunningEmulator
from bridge.emulator.webhooks.signature import sign
from tests.child import write_config as child_config
from tests.redis_server import RedisServer, free_port

BRIDGE = str(Path(sys.executable).parent / "bridge")
SECRET = "dev-secret"
NOTICE = "（回答中断，请稍后重试）"
ANSWER = re.compile(r"^You said: (\S+)\.")
_stamps = count(int(time.time() * 1000))  # one callback signature per message


@asynccontextmanager
async def own_redis(folder: Path, *, persistent: bool = False) -> AsyncIterator[RedisServer]:
    """A real redis-server of one test, in ``folder``; ``persistent`` keeps its data
    across a stop (appendonly, fsync), for an outage."""
    server = RedisServer(folder / "redis", persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def emulator_control(
    emulator: RunningEmulator, http: httpx2.AsyncClient, *, qps: int
) -> EmulatorControl:
    """The emulator's control API, its limit set to ``qps`` calls a second per app and API."""
    control = EmulatorControl(http, emulator.base_url)
    await control.set_qps(qps)
    return control


@dataclass
class Fleet:
    """The instances: their processes, URLs and logs."""

    processes: list[Process] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-6000:]}" for p in self.logs)


def write_config(
    base_url: str, redis_url: str, folder: Path, *, port: int, concurrent: int
) -> Path:
    """One instance's config: HTTP doors on ``port``, state on the Redis at ``redis_url``,
    a short lease and takeover interval so a killed instance's work moves soon."""
    return child_config(
        folder / f"bridge-{port}.toml",
        base_url,
        host="127.0.0.1",
        port=port,
        stream=False,
        http=True,
        max_concurrent_replies=concurrent,
        state=redis_url,
        state_prefix="it:",
        instance_lease=4.0,
        takeover_interval=0.3,
    )


@asynccontextmanager
async def fleet_of(
    emulator: RunningEmulator,
    http: httpx2.AsyncClient,
    redis: RedisServer,
    folder: Path,
    *,
    size: int = 3,
    concurrent: int = 64,
) -> AsyncIterator[Fleet]:
    """``size`` instances of `bridge serve` on ``redis``, ready (their /healthz answers)."""
    fleet = Fleet()
    async with AsyncExitStack() as stack:
        for n in range(size):
            port = free_port()
            config = write_config(
                emulator.base_url, redis.url, folder, port=port, concurrent=concurrent
            )
            log = folder / f"bridge-{n}.log"
            with log.open("ab") as out:
                process = await anyio.open_process(
                    [BRIDGE, "serve", "--config", str(config)], stdout=out, stderr=out
                )
            stack.push_async_callback(ended, process)
            fleet.processes.append(process)
            fleet.urls.append(f"http://127.0.0.1:{port}")
            fleet.logs.append(log)
        for url in fleet.urls:
            await poll(partial(healthy, http, url), what=f"{url} up")
        yield fleet


async def ended(process: Process) -> None:
    if process.returncode is None:
        process.kill()
    with anyio.move_on_after(10, shield=True):
        await process.wait()


async def healthy(http: httpx2.AsyncClient, url: str) -> bool:
    try:
        response = await http.get(f"{url}/healthz", timeout=2)
    except httpx2.TransportError:
        return False
    return response.status_code == 200 and response.json()["status"] == "ok"


async def poll(check: Callable[[], Awaitable[bool]], *, what: str, within: float = 60) -> None:
    """Check a condition every 50 ms until it holds (``within`` seconds at most)."""
    with anyio.fail_after(within):
        while True:
            if await check():
                return
            await anyio.sleep(0.05)


async def make_users(control: EmulatorControl, n: int) -> list[str]:
    conversations = []
    for i in range(n):
        await control.create_user(f"u{i}", f"User {i}", union_id=f"union-u{i}")
        conversation = f"cid-u{i}"
        await control.create_conversation("single", [f"u{i}"], conversation_id=conversation)
        conversations.append(conversation)
    return conversations


async def say(
    control: EmulatorControl,
    http: httpx2.AsyncClient,
    fleet: Fleet,
    conversation: str,
    text: str,
    to: Sequence[int],
) -> list[int]:
    """The user of ``conversation`` says ``text``; its callback goes to the instances ``to``,
    at once when several (a redelivery racing the first delivery). Returns the statuses."""
    user = "u" + conversation.removeprefix("cid-u")
    said = await control.inbound(user, conversation, text, deliver="none")
    body = json.dumps(said.chatbot_message)
    stamp = next(_stamps)
    headers = {"timestamp": str(stamp), "sign": sign(stamp, SECRET)}
    statuses: list[int] = []

    async def post(instance: int) -> None:
        url = f"{fleet.urls[instance]}/dingtalk/dev/robot"
        response = await http.post(url, content=body, headers=headers, timeout=20)
        statuses.append(response.status_code)

    async with anyio.create_task_group() as tg:
        for instance in to:
            tg.start_soon(post, instance)
    return statuses


async def answers(control: EmulatorControl, conversations: Sequence[str]) -> dict[str, Any]:
    """Per conversation: the questions answered in order, and the messages closed interrupted."""
    answered: dict[str, list[str]] = {}
    interrupted: list[str] = []
    for conversation in conversations:
        answered[conversation] = []
        for message in await control.transcript(conversation):
            if message.sender_kind != "bot" or message.state not in ("finished", "failed"):
                continue
            if message.text.endswith(NOTICE):
                interrupted.append(message.id)
                continue
            match = ANSWER.match(message.text)
            assert match is not None, message
            assert message.state == "finished", message
            answered[conversation].append(match.group(1))
    return {"answered": answered, "interrupted": interrupted}


async def all_answered(
    control: EmulatorControl, expected: dict[str, list[str]], fleet: Fleet
) -> dict[str, Any]:
    """Wait until every expected question has an answer (or more: then the test fails)."""
    total = sum(map(len, expected.values()))

    async def done() -> bool:
        got = await answers(control, list(expected))
        return sum(map(len, got["answered"].values())) >= total

    try:
        await poll(done, what="every Turn answered", within=120)
    except TimeoutError:
        pytest.fail(f"not every Turn was answered:\n{fleet.log_text()}")
    assert await control.messages("preparing", "inputting") == [], fleet.log_text()
    return await answers(control, list(expected))


async def journal_size(redis: RedisServer) -> int:
    client = Redis.from_url(redis.url, decode_responses=True)
    try:
        return int(await client.zcard("it:order"))
    finally:
        await client.aclose()


async def stop_all(fleet: Fleet) -> None:
    for process in fleet.processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    with anyio.fail_after(30):
        for process in fleet.processes:
            await process.wait()
