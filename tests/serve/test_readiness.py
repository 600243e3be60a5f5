"""`/readyz` of `bridge serve` tells the truth: 503 with the reason while DingTalk refuses the
credentials, the Stream connection is cut or the state store is away; 200 once they are back.

The process never stops meanwhile (`/healthz` answers 200 throughout) and recovers by
itself. Conditions are awaited by polling with generous timeouts, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import FaultSpec
from tests.observe.scrape import Scrape
from tests.redis_server import RedisServer
from tests.serve.conftest import Served, answer_in

pytestmark = pytest.mark.anyio

REFUSED = FaultSpec(
    operation=Operation.ACCESS_TOKEN,
    status=400,
    code="invalidClientIdOrSecret",
    message="无效的clientId或者clientSecret",
)
NO_TICKETS = FaultSpec(operation=Operation.GATEWAY_OPEN, status=500, code="system.error")


async def readyz(served: Served) -> tuple[int, dict[str, Any]]:
    response = await served.http.get(f"{served.bridge.http_url}/readyz")
    return response.status_code, response.json()


async def ready_is(served: Served, status: int, *, within: float = 30) -> dict[str, Any]:
    """Poll /readyz until it answers ``status``; returns its body."""
    with anyio.fail_after(within):
        while True:
            code, body = await readyz(served)
            if code == status:
                return body
            await anyio.sleep(0.05)
    raise AssertionError  # pragma: no cover - fail_after raises first


async def alive(served: Served) -> bool:
    """/healthz answers 200: the process serves."""
    return (await served.http.get(f"{served.bridge.http_url}/healthz")).status_code == 200


async def answered(served: Served, conversation: str, text: str) -> str:
    said = await served.control.inbound("alice", conversation, text)
    return (await answer_in(served.control, conversation, said.message.created_at)).state


async def test_refused_credentials_make_the_service_not_ready_naming_the_assistant(
    serve: Callable[..., Any],
) -> None:
    """Credentials refused after start-up: 503 naming the assistant, no crash; 200 after."""
    async with serve() as served:
        assert (await ready_is(served, 200))["status"] == "ready"
        assert await answered(served, "cid-alice", "你好") == "finished"

        # DingTalk now refuses the app's secret, and the token it holds has expired.
        await served.control.add_fault(REFUSED)
        await served.control.advance_clock(7300)
        await served.control.inbound("alice", "cid-alice", "还在吗")
        body = await ready_is(served, 503)
        assert body["status"] == "not ready"
        [reason] = body["reasons"]
        assert reason.startswith("assistant dev: no valid access token")
        assert "invalidClientIdOrSecret" in reason
        assert body["checks"]["assistants"]["dev"]["stream"] == "connected"
        assert await alive(served)
        metrics = Scrape.parse((await served.http.get(f"{served.bridge.http_url}/metrics")).text)
        assert metrics.total("bridge_ready") == 0
        assert metrics.total("bridge_dingtalk_token_valid", assistant="dev") == 0

        # Accepted again: the credential watch notices without any message.
        await served.control.clear_faults()
        body = await ready_is(served, 200)
        assert body == {
            "status": "ready",
            "reasons": [],
            "checks": {
                "shutting_down": False,
                "state": "ok",
                "assistants": {"dev": {"credentials": "ok", "stream": "connected"}},
            },
        }
        assert await answered(served, "cid-group", "又好了") == "finished"


async def test_a_cut_stream_connection_makes_the_service_not_ready_until_it_is_back(
    serve: Callable[..., Any],
) -> None:
    """The Stream socket dropped and tickets refused: 503 saying so; 200 once reconnected."""
    async with serve() as served:
        await ready_is(served, 200)
        await served.control.add_fault(NO_TICKETS)
        await served.control.close_connections(client_id="dingbridge-dev")
        body = await ready_is(served, 503)
        [reason] = body["reasons"]
        assert reason.startswith("assistant dev: Stream ")
        assert body["checks"]["assistants"]["dev"]["credentials"] == "ok"
        assert await alive(served)

        await served.control.clear_faults()
        await ready_is(served, 200)
        metrics = Scrape.parse((await served.http.get(f"{served.bridge.http_url}/metrics")).text)
        assert metrics.total("bridge_stream_up", assistant="dev") == 1
        assert metrics.total("bridge_stream_reconnects_total", assistant="dev") >= 1
        assert metrics.total("bridge_stream_failures_total", assistant="dev") >= 1
        assert await answered(served, "cid-alice", "你好") == "finished"


async def test_an_unreachable_state_store_makes_the_service_not_ready(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    """Redis stopped: 503 naming the store and /healthz degraded; 200 once Redis is back."""
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        settings = {"state": redis.url, "instance_lease": 1.5}
        async with serve(serve=settings) as served:
            await ready_is(served, 200)
            await anyio.to_thread.run_sync(redis.stop)
            body = await ready_is(served, 503)
            assert body["reasons"][0].startswith("state store unreachable")
            health = (await served.http.get(f"{served.bridge.http_url}/healthz")).json()
            assert health["status"] == "degraded"

            await anyio.to_thread.run_sync(redis.start)
            await ready_is(served, 200)
    finally:
        redis.stop()
