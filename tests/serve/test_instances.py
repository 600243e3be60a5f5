"""Three `bridge serve` processes on one Redis: order, exactly once, kill -9, a Redis outage.

The instances and the user are ``tests.serve.fleet``'s, on one real ``redis-server`` of
this test (persistent, so it can be stopped and started again with its data). Each step
waits for an emulator event or polls a condition; the only fixed wait is the outage
itself. The emulator's rate limit is raised: how many calls a shared budget allows is
``test_instances_budget``'s subject.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import anyio
import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.model.script import SpeedUpdate
from bridge.emulator.server import RunningEmulator
from tests.redis_server import RedisServer
from tests.serve.fleet import (
    all_answered,
    emulator_control,
    fleet_of,
    healthy,
    journal_size,
    make_users,
    own_redis,
    poll,
    say,
    stop_all,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A Redis of this test's own that keeps its data across a stop."""
    async with own_redis(tmp_path, persistent=True) as server:
        yield server


@pytest.fixture
async def control(emulator: RunningEmulator, http: httpx2.AsyncClient) -> EmulatorControl:
    return await emulator_control(emulator, http, qps=10_000)


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
            await poll(partial(healthy, http, url), what=f"{url} ok again")
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
