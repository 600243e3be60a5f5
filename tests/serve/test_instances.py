"""Three `bridge serve` processes on one Redis: order, exactly once, kill -9, a Redis outage.

Each instance is a real child process with its HTTP doors on a port of its own, all on
one real ``redis-server`` of this test (persistent, so it can be stopped and started
again with its data), against the emulator in this process. A user's message is
recorded by the emulator (``deliver="none"``) and its signed robot callback is posted
by the test to the instance it chooses, so Turns of one conversation arrive at
different instances, and one message can be delivered to two at once. Each step waits
for an emulator event or polls a condition; the only fixed wait is the outage itself.
The emulator's rate limit is raised: how many calls a shared budget allows is not
tested here.
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
from itertools import count
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.abc import Process
from redis.asyncio import Redis

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.model.script import SpeedUpdate
from bridge.emulator.server import RunningEmulator
from bridge.emulator.webhooks.signature import sign
from tests.redis_server import RedisServer, free_port
from tests.serve.conftest import ROOT

pytestmark = pytest.mark.anyio

BRIDGE = str(Path(sys.executable).parent / "bridge")
SECRET = "dev-secret"
NOTICE = "（回答中断，请稍后重试）"
ANSWER = re.compile(r"^You said: (\S+)\.")
_stamps = count(int(time.time() * 1000))  # one callback signature per message


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
    path = folder / f"bridge-{port}.toml"
    path.write_text(
        f"""
[dingtalk]
api_base = "{base_url}"
oapi_base = "{base_url}"
reply_hosts = ["{base_url.removeprefix("http://")}"]
retry = {{ backoff_initial = 0.05, backoff_max = 0.2 }}

[llm]
base_url = "{base_url}/v1"
model = "simulated"
max_retries = 0

[pacing]
oneshot_window = 0.3
min_interval = 0.3

[delivery]
ai_template_id = "bridge-markdown.schema"

[serve]
host = "127.0.0.1"
port = {port}
stream = false
http = true
grace_period = 5.0
max_concurrent_replies = {concurrent}
state = "{redis_url}"
state_prefix = "it:"
instance_lease = 4.0
takeover_interval = 0.3
prompts_dir = "{ROOT / "prompts"}"

[[assistants]]
name = "dev"
client_id = "dingbridge-dev"
client_secret = "{SECRET}"
""",
        encoding="utf-8",
    )
    return path


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
            stack.push_async_callback(_ended, process)
            fleet.processes.append(process)
            fleet.urls.append(f"http://127.0.0.1:{port}")
            fleet.logs.append(log)
        for url in fleet.urls:
            await poll(lambda url=url: _healthy(http, url), what=f"{url} up")
        yield fleet


async def _ended(process: Process) -> None:
    if process.returncode is None:
        process.kill()
    with anyio.move_on_after(10, shield=True):
        await process.wait()


async def _healthy(http: httpx2.AsyncClient, url: str) -> bool:
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


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A Redis of this test's own that keeps its data across a stop (appendonly, fsync)."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def control(emulator: RunningEmulator, http: httpx2.AsyncClient) -> EmulatorControl:
    control = EmulatorControl(http, emulator.base_url)
    await control.set_qps(10_000)
    return control


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


# ---------------------------------------------------------------- the tests


@pytest.mark.timeout(240)
async def test_a_flood_across_instances_is_answered_once_each_in_order(
    emulator: RunningEmulator,
    control: EmulatorControl,
    http: httpx2.AsyncClient,
    redis: RedisServer,
    tmp_path: Path,
) -> None:
    """12 conversations × 6 Turns spread over 3 instances, every 3rd delivered to two at once."""
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.02, tokens_per_second=400))
    conversations = await make_users(control, 12)
    expected: dict[str, list[str]] = {c: [] for c in conversations}
    redelivered = 0
    async with fleet_of(emulator, http, redis, tmp_path) as fleet:

        async def talk(index: int, conversation: str) -> None:
            nonlocal redelivered
            for k in range(6):
                question = f"{conversation}-q{k}"
                first = (index + k) % 3
                to = [first, (first + 1) % 3] if k % 3 == 2 else [first]
                statuses = await say(
                    control, http, fleet, conversation, f"{question} [[len=80]]", to
                )
                assert statuses == [200] * len(to), fleet.log_text()
                redelivered += len(to) - 1
                expected[conversation].append(question)

        async with anyio.create_task_group() as tg:
            for index, conversation in enumerate(conversations):
                tg.start_soon(talk, index, conversation)
        got = await all_answered(control, expected, fleet)
        health = [(await http.get(f"{url}/healthz")).json() for url in fleet.urls]
        await stop_all(fleet)
    assert got["answered"] == expected
    assert got["interrupted"] == []
    assert sum(h["duplicates"] for h in health) == redelivered
    assert sum(h["answered"] for h in health) == 72
    assert all(h["answered"] > 0 for h in health), "every instance answered some"
    assert [p.returncode for p in fleet.processes] == [0, 0, 0]
    assert await journal_size(redis) == 0


@pytest.mark.timeout(240)
async def test_kill_9_of_the_streaming_instance_hands_its_lane_to_another_once(
    emulator: RunningEmulator,
    control: EmulatorControl,
    http: httpx2.AsyncClient,
    redis: RedisServer,
    tmp_path: Path,
) -> None:
    """Instance 0 streams c0's answer with 4 more Turns (accepted elsewhere) queued behind it,
    and c1's Turns waiting for its one reply slot; kill -9: another instance closes the
    interrupted message and answers every Turn once, in order."""
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=60))
    c0, c1 = await make_users(control, 2)
    expected: dict[str, list[str]] = {c0: [], c1: []}
    async with fleet_of(emulator, http, redis, tmp_path, concurrent=1) as fleet:
        assert await say(control, http, fleet, c0, "c0-q0 [[len=900]]", [0]) == [200]
        expected[c0].append("c0-q0")
        await poll(lambda: _streaming(control, c0), what="c0 streams")
        for k in range(1, 5):
            text = f"c0-q{k} [[len=40]]"
            assert await say(control, http, fleet, c0, text, [1 + k % 2]) == [200]
            expected[c0].append(f"c0-q{k}")
        for k in range(3):
            assert await say(control, http, fleet, c1, f"c1-q{k} [[len=40]]", [0]) == [200]
            expected[c1].append(f"c1-q{k}")
        streaming = [m for m in await control.messages("inputting")]
        assert [m.conversation_id for m in streaming] == [c0]
        fleet.processes[0].kill()
        await fleet.processes[0].wait()
        emulator.emulator.model.set_speed(SpeedUpdate(tokens_per_second=2000))
        got = await all_answered(control, expected, fleet)
        await stop_all(fleet)
    assert got["answered"] == expected, fleet.log_text()
    assert got["interrupted"] == [streaming[0].id]
    assert [p.returncode for p in fleet.processes[1:]] == [0, 0]
    assert await journal_size(redis) == 0


async def _streaming(control: EmulatorControl, conversation: str) -> bool:
    return any(
        m.sender_kind == "bot" and m.state == "inputting" and m.text
        for m in await control.transcript(conversation)
    )


@pytest.mark.timeout(240)
async def test_a_redis_outage_loses_no_accepted_turn_and_crashes_no_instance(
    emulator: RunningEmulator,
    control: EmulatorControl,
    http: httpx2.AsyncClient,
    redis: RedisServer,
    tmp_path: Path,
) -> None:
    """Redis killed for longer than a lease while replies stream: new Turns get 503, the
    accepted ones are all answered once after it is back, every instance lives on."""
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=150))
    conversations = await make_users(control, 6)
    expected: dict[str, list[str]] = {c: [] for c in conversations}
    async with fleet_of(emulator, http, redis, tmp_path) as fleet:
        for k in range(2):
            for index, conversation in enumerate(conversations):
                question = f"{conversation}-q{k}"
                text = f"{question} [[len=300]]"
                assert await say(control, http, fleet, conversation, text, [index % 3]) == [200]
                expected[conversation].append(question)
        await poll(lambda: _streaming(control, conversations[0]), what="answers stream")

        redis.stop(kill=True)
        refused = []
        for index, conversation in enumerate(conversations[:3]):
            question = f"{conversation}-q2"
            statuses = await say(
                control, http, fleet, conversation, f"{question} [[len=40]]", [index]
            )
            assert statuses == [503], fleet.log_text()
            refused.append((index, conversation, question))

        async def degraded() -> bool:
            shown = [(await http.get(f"{url}/healthz")).json() for url in fleet.urls]
            return all(h["status"] == "degraded" and not h["state"]["reachable"] for h in shown)

        await poll(degraded, what="every /healthz says degraded")
        await anyio.sleep(5)  # the outage: longer than the 4 s lease
        redis.start()
        for url in fleet.urls:
            await poll(lambda url=url: _healthy(http, url), what=f"{url} ok again")
        # DingTalk delivers the refused messages again: now they are taken.
        for index, conversation, question in refused:
            text = f"{question} [[len=40]]"
            assert await say(control, http, fleet, conversation, text, [index]) == [200]
            expected[conversation].append(question)
        got = await all_answered(control, expected, fleet)
        assert [p.returncode for p in fleet.processes] == [None, None, None]
        await stop_all(fleet)
    assert got["answered"] == expected, fleet.log_text()
    assert [p.returncode for p in fleet.processes] == [0, 0, 0]
    assert await journal_size(redis) == 0
