"""A separate process spending the shared budget (``test_shared_budget_processes``).

``python -m tests.dingtalk.budget_child URL MODE CALLS QPS WINDOW CALL_TIMEOUT``: opens a
``SharedBudget`` on ``URL`` (through a ``RecordingLedger``), prints ``ready``, waits for
a line on stdin, then:

- ``flood``: makes ``CALLS`` calls at once (every third one slow) and prints one JSON
  line: ``{"calls": [[granted, answered], ...]}`` in the ledger's clock;
- ``hold``: takes ``CALLS`` slots, prints ``{"granted": [...]}`` and holds them until it
  is killed.
"""

from __future__ import annotations

import json
import sys

import anyio

from bridge.dingtalk.operations import Operation
from bridge.dingtalk.shared_budget import SharedBudget
from bridge.state.redis_budget import RedisLedger
from tests.dingtalk.ledgers import RecordingLedger

PREFIX = "sbp:"
UPDATE = Operation.AI_UPDATE


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(
    url: str, mode: str, calls: int, qps: float, window: float, call_timeout: float
) -> None:
    async with RedisLedger(url, prefix=PREFIX) as ledger:
        recording = RecordingLedger(ledger)
        budget = SharedBudget(recording, qps, window=window, margin=0.01, call_timeout=call_timeout)
        _say("ready")
        await anyio.to_thread.run_sync(sys.stdin.readline)
        if mode == "flood":

            async def caller(index: int) -> None:
                async with budget.slot("app", UPDATE):
                    if index % 3 == 0:
                        await anyio.sleep(window / 3)

            async with anyio.create_task_group() as tg:
                for index in range(calls):
                    tg.start_soon(caller, index)
            _say(json.dumps({"calls": recording.calls()}))
            return
        held = 0

        async def holder() -> None:
            nonlocal held
            async with budget.slot("app", UPDATE):
                held += 1
                if held == calls:
                    _say(json.dumps({"granted": sorted(recording.granted.values())}))
                await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            for _ in range(calls):
                tg.start_soon(holder)


if __name__ == "__main__":
    url, mode, calls, qps, window, timeout = sys.argv[1:7]
    anyio.run(main, url, mode, int(calls), float(qps), float(window), float(timeout))
