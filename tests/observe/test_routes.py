"""The probe routes on bridge serve's HTTP doors: no token, never held back by the request limit."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest

from bridge.admission import ACCEPTED, Admission
from bridge.inbound.http import AssistantDoor, create_http_app
from bridge.inbound.push import PushRequest
from bridge.observe.report import Readiness
from bridge.serving import running_server
from bridge.turn import Turn

pytestmark = pytest.mark.anyio

PUSH_TOKEN = "push-token"


async def test_probes_answer_while_the_doors_are_saturated() -> None:
    """With the one allowed request stuck, a door gets 503 but every probe answers."""
    stuck, release = anyio.Event(), anyio.Event()
    not_ready = Readiness(("assistant dev: Stream not connected yet",), {"state": "ok"})

    async def accept(turn: Turn) -> Admission:
        return ACCEPTED

    async def push(request: PushRequest) -> dict[str, Any]:
        stuck.set()
        await release.wait()
        return {"ok": True}

    app = create_http_app(
        assistants={"dev": AssistantDoor("dev", "secret", None)},
        accept=accept,
        push=push,
        push_token=PUSH_TOKEN,
        reply_hosts=("oapi.dingtalk.com",),
        health=lambda: {"answered": 0},
        max_requests=1,
        readiness=lambda: not_ready,
        metrics=lambda: b"# nothing yet\n",
    )
    body = {"to": "user:u1", "prompt": "hi"}
    headers = {"Authorization": f"Bearer {PUSH_TOKEN}"}
    async with (
        running_server(app) as url,
        httpx2.AsyncClient(base_url=url, timeout=10) as http,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(lambda: http.post("/v1/push", json=body, headers=headers))
        await stuck.wait()
        refused = await http.post("/v1/push", json=body, headers=headers)
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
        release.set()
    assert refused.status_code == 503
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "answered": 0}
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not ready",
        "reasons": ["assistant dev: Stream not connected yet"],
        "checks": {"state": "ok"},
    }
    assert metrics.status_code == 200
    assert metrics.text == "# nothing yet\n"
    assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


async def test_without_readiness_or_metrics_those_probes_are_not_found() -> None:
    """A door app given only ``health`` answers /healthz and 404 for the other two."""

    async def accept(turn: Turn) -> Admission:
        return ACCEPTED

    app = create_http_app(
        assistants={},
        accept=accept,
        push=None,
        push_token=None,
        reply_hosts=(),
        health=dict,
    )
    async with running_server(app) as url, httpx2.AsyncClient(base_url=url) as http:
        statuses = [
            (await http.get(path)).status_code for path in ("/healthz", "/readyz", "/metrics")
        ]
    assert statuses == [200, 404, 404]
