"""`bridge dev` serves the bridge's probes on the chat page's port: health, readiness, metrics."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from bridge.sandbox.runner import Sandbox
from bridge.sandbox.wiring import ASSISTANT, CARD_ASSISTANT
from tests.observe.scrape import Scrape

pytestmark = pytest.mark.anyio


async def test_the_page_port_answers_the_bridges_probes(sandbox: Sandbox) -> None:
    """/readyz turns 200 once both apps are connected; /metrics and /healthz say so too."""
    async with httpx2.AsyncClient(base_url=sandbox.url, timeout=20) as http:
        with anyio.fail_after(20):
            while True:
                ready = await http.get("/readyz")
                if ready.status_code == 200:
                    break
                await anyio.sleep(0.05)
        assert ready.json()["checks"]["assistants"] == {
            ASSISTANT: {"credentials": "ok", "stream": "connected"},
            CARD_ASSISTANT: {"credentials": "ok", "stream": "connected"},
        }
        metrics = await http.get("/metrics")
        health = await http.get("/healthz")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    shown = Scrape.parse(metrics.text)
    assert shown.by("bridge_stream_up", "assistant") == {ASSISTANT: 1, CARD_ASSISTANT: 1}
    assert shown.total("bridge_ready") == 1
    assert health.status_code == 200
    assert sorted(health.json()["assistants"]) == sorted([ASSISTANT, CARD_ASSISTANT])
