"""Fixtures for the HTTP doors' tests (test_http*.py): ``door``, the app served on loopback.

(``anyio_backend`` comes from tests/conftest.py.)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from bridge.admission import Admission
from bridge.inbound.http import AssistantDoor, create_http_app
from bridge.inbound.push import PushRequest
from bridge.serving import running_server
from bridge.turn import Turn
from tests.inbound.doors import ACTION_TOKEN, PUSH_TOKEN, ROBOT_CODE, SECRET, Door


@pytest.fixture
async def door() -> AsyncIterator[Door]:
    state = Door("", httpx2.AsyncClient())

    async def accept(turn: Turn) -> Admission:
        if state.crash is not None:
            raise state.crash
        state.turns.append(turn)
        return state.admission

    async def push(request: PushRequest) -> dict[str, Any]:
        if state.crash is not None:
            raise state.crash
        state.pushes.append(request)
        return state.push_result

    app = create_http_app(
        assistants={"helpdesk": AssistantDoor("helpdesk", SECRET, ACTION_TOKEN, ROBOT_CODE)},
        accept=accept,
        push=push,
        push_token=PUSH_TOKEN,
        reply_hosts=("oapi.dingtalk.com", "api.dingtalk.com"),
        health=lambda: {"answered": len(state.turns)},
        max_body_bytes=4096,
        body_timeout=0.5,
        clock=lambda: time.time() + state.skew,
        on_fatal=state.fatal.append,
    )
    async with running_server(app) as url, httpx2.AsyncClient(base_url=url) as http:
        state.url, state.http = url, http
        yield state
