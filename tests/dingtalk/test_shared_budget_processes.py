"""The shared budget across real processes on one Redis: the bound, and a kill -9.

Each instance is a child process (``tests.dingtalk.budget_child``) with its own
``SharedBudget``; they start together on a line from the test, and report what they
were granted in the ledger's clock (Redis ``TIME``), which all of them share.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from bridge.dingtalk.operations import Operation
from bridge.dingtalk.shared_budget import SharedBudget
from bridge.state.redis_budget import RedisLedger
from tests.dingtalk.budget_child import PREFIX
from tests.dingtalk.ledgers import RecordingLedger, most_in_a_window

pytestmark = pytest.mark.anyio


class Child:
    """One instance: its process and its stdout, line by line."""

    def __init__(self, process: Process) -> None:
        assert process.stdout is not None
        self.process = process
        self._out = BufferedByteReceiveStream(process.stdout)

    async def line(self) -> str:
        with anyio.fail_after(30):
            return (await self._out.receive_until(b"\n", 1 << 22)).decode()

    async def go(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(b"go\n")


@asynccontextmanager
async def children(url: str, *argv_each: list[str]) -> AsyncIterator[list[Child]]:
    """Start one child per argument list; yield them once all are ready; kill leftovers."""
    async with AsyncExitStack() as stack:
        started = []
        for argv in argv_each:
            process = await anyio.open_process(
                [sys.executable, "-m", "tests.dingtalk.budget_child", url, *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
            )
            stack.push_async_callback(_end, process)
            started.append(Child(process))
        for child in started:
            assert await child.line() == "ready"
        yield started


async def _end(process: Process) -> None:
    if process.returncode is None:
        process.kill()
    with anyio.move_on_after(10, shield=True):
        await process.wait()


@pytest.mark.timeout(120)
async def test_three_processes_never_exceed_the_limit_together(redis_url: str) -> None:
    """Three processes × 40 calls at limit 4 per 0.1 s: no window counts more than 4."""
    argv = ["flood", "40", "40", "0.1", "5"]
    async with children(redis_url, argv, argv, argv) as three:
        for child in three:
            await child.go()
        results = [json.loads(await child.line())["calls"] for child in three]
    assert [len(calls) for calls in results] == [40, 40, 40]
    merged = [(g, a) for calls in results for g, a in calls]
    assert most_in_a_window(merged, 0.1) <= 4


@pytest.mark.timeout(120)
async def test_slots_of_a_killed_process_free_after_their_flight_lease(redis_url: str) -> None:
    """A process holding every slot mid-call is killed -9: the slots count until their
    flight lease (call timeout + hold + 1 s), then another instance is served."""
    async with (
        children(redis_url, ["hold", "2", "20", "0.1", "0.2"]) as (child,),
        RedisLedger(redis_url, prefix=PREFIX) as ledger,
    ):
        await child.go()
        held = json.loads(await child.line())["granted"]
        child.process.kill()
        await child.process.wait()
        recording = RecordingLedger(ledger)
        budget = SharedBudget(recording, 20, window=0.1, margin=0.01, call_timeout=0.2)
        with anyio.fail_after(10):
            async with budget.slot("app", Operation.AI_UPDATE):
                pass
    flight = 0.2 + 0.11 + 1.0
    (granted,) = recording.granted.values()
    assert granted >= max(held) + flight - 0.01
