"""`/healthz` tells the truth about work: running, queued, journaled, and the store's view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge.emulator.model.script import ModelFault

pytestmark = pytest.mark.anyio


async def test_healthz_counts_what_runs_waits_and_is_journaled(
    serve: Callable[..., Any],
) -> None:
    """With the model stalled and one reply at a time, 3 Turns: 3 journaled, none lost track of."""
    async with serve(serve={"max_concurrent_replies": 1}) as served:
        served.model.add_fault(ModelFault(kind="stall", seconds=60, count=None))
        for n in range(3):
            said = await served.control.inbound("alice", "cid-alice", f"q{n}")
            assert said.delivery is not None
            assert said.delivery.delivery is not None
            # ACKed only once the pipeline journaled it.
            await served.control.delivery(said.delivery.delivery.id, "acked", wait=20)
        health = served.bridge.health()
        assert health["turns_journaled"] == 3
        assert health["replies_running"] + health["replies_queued"] == 3
        assert health["replies_running"] <= 1
        await served.bridge.membership.beat()  # what a heartbeat reads from the store
        response = await served.http.get(f"{served.bridge.http_url}/healthz")
        shown = response.json()
        assert shown["turns_journaled"] == 3
        assert (shown["state"]["journaled"], shown["state"]["instances"]) == (3, 1)

        served.model.clear_faults()
        served.model.release_stalls()
        assert await served.bridge.pipeline.drain(30)
        health = served.bridge.health()
    running_queued_journaled = (
        health["replies_running"],
        health["replies_queued"],
        health["turns_journaled"],
    )
    assert running_queued_journaled == (0, 0, 0)
    assert health["answered"] == 3
