"""The HTTP doors over loopback: signatures, bearer tokens, sizes, JSON and reply hosts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from bridge.admission import ACCEPTED, Admission
from bridge.config import AssistantConfig
from bridge.dingtalk.signature import sign
from bridge.inbound.http import AssistantDoor, create_http_app
from bridge.inbound.push import PushRequest, PushTarget
from bridge.serving import running_server
from bridge.turn import Turn

SECRET = "robot-secret"
ACTION_TOKEN = "action-token"
PUSH_TOKEN = "push-token"
ROBOT_CODE = "ding-robot"


def recording(turns: list[Turn]) -> Callable[[Turn], Awaitable[Admission]]:
    """A pipeline stand-in that takes every Turn and keeps it."""

    async def accept(turn: Turn) -> Admission:
        turns.append(turn)
        return ACCEPTED

    return accept


@dataclass
class Door:
    """A served app plus what it handed over."""

    url: str
    http: httpx2.AsyncClient
    turns: list[Turn] = field(default_factory=list)
    pushes: list[PushRequest] = field(default_factory=list)


@pytest.fixture
async def door() -> AsyncIterator[Door]:
    turns: list[Turn] = []
    pushes: list[PushRequest] = []

    async def push(request: PushRequest) -> dict[str, Any]:
        pushes.append(request)
        return {"ok": True}

    app = create_http_app(
        assistants={"helpdesk": AssistantDoor("helpdesk", SECRET, ACTION_TOKEN, ROBOT_CODE)},
        accept=recording(turns),
        push=push,
        push_token=PUSH_TOKEN,
        reply_hosts=("oapi.dingtalk.com", "api.dingtalk.com"),
        health=lambda: {"answered": len(turns)},
        max_body_bytes=4096,
    )
    async with running_server(app) as url, httpx2.AsyncClient(base_url=url) as http:
        yield Door(url, http, turns, pushes)


def robot_message(**overrides: Any) -> dict[str, Any]:
    message = {
        "conversationId": "cid1",
        "conversationType": "1",
        "msgId": "m1",
        "msgtype": "text",
        "text": {"content": "hello"},
        "senderStaffId": "s1",
        "senderNick": "Alice",
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x",
        "sessionWebhookExpiredTime": int(time.time() * 1000) + 600_000,
    }
    message.update(overrides)
    return message


def signed(timestamp_ms: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    return {"timestamp": stamp, "sign": sign(stamp, secret)}


@pytest.mark.anyio
async def test_signed_robot_message_is_accepted(door: Door) -> None:
    """A correctly signed callback is answered 200 and becomes one Turn."""
    response = await door.http.post(
        "/dingtalk/helpdesk/robot", json=robot_message(), headers=signed()
    )
    assert response.status_code == 200
    assert response.json() == {"msgtype": "empty"}
    assert [t.text for t in door.turns] == ["hello"]
    assert door.turns[0].source == "http_bot"
    # The message names no robot: the Turn carries the assistant's robot code.
    assert door.turns[0].handles.robot_code == ROBOT_CODE


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        {},
        signed(secret="wrong-secret"),
        signed(timestamp_ms=int(time.time() * 1000) - 2 * 3600 * 1000),
        {"timestamp": "not-a-number", "sign": "x"},
    ],
    ids=["unsigned", "forged", "stale", "garbage"],
)
async def test_bad_signature_is_401_and_nothing_happens(
    door: Door, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Forged, stale or missing signatures are refused with 401, logged, and not submitted."""
    response = await door.http.post(
        "/dingtalk/helpdesk/robot", json=robot_message(), headers=headers
    )
    assert response.status_code == 401
    assert door.turns == []
    assert any("refused POST /dingtalk/helpdesk/robot" in r.message for r in caplog.records)


@pytest.mark.anyio
async def test_malformed_json_is_400(door: Door) -> None:
    """A signed body that is not JSON is a 400."""
    response = await door.http.post("/dingtalk/helpdesk/robot", content=b"{nope", headers=signed())
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    assert door.turns == []


@pytest.mark.anyio
async def test_oversize_body_is_413(door: Door) -> None:
    """A body over the limit is refused with 413 before it is parsed."""
    big = robot_message(text={"content": "x" * 10_000})
    response = await door.http.post("/dingtalk/helpdesk/robot", json=big, headers=signed())
    assert response.status_code == 413
    assert door.turns == []


@pytest.mark.anyio
async def test_oversize_chunked_body_is_413(door: Door) -> None:
    """Without a Content-Length, the size is counted while the body streams in."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = await door.http.post("/dingtalk/helpdesk/robot", content=chunks(), headers=signed())
    assert response.status_code == 413
    assert door.turns == []


@pytest.mark.anyio
async def test_reply_url_off_the_allow_list_is_400(door: Door) -> None:
    """A webhook pointing anywhere but DingTalk is refused: bridge never POSTs there."""
    forged = robot_message(sessionWebhook="https://attacker.example/collect")
    response = await door.http.post("/dingtalk/helpdesk/robot", json=forged, headers=signed())
    assert response.status_code == 400
    assert "allow-list" in response.json()["error"]
    assert door.turns == []


@pytest.mark.anyio
async def test_unknown_assistant_is_404(door: Door) -> None:
    """Only configured assistants have doors."""
    response = await door.http.post("/dingtalk/nobody/robot", json={}, headers=signed())
    assert response.status_code == 404


@pytest.mark.anyio
async def test_action_needs_its_bearer_token(door: Door) -> None:
    """AI actions over HTTP need the configured bearer token."""
    params = {"rawInput": "总结", "unionId": "u1", "conversationToken": "ct_1"}
    refused = await door.http.post("/dingtalk/helpdesk/action", json=params)
    assert refused.status_code == 401
    accepted = await door.http.post(
        "/dingtalk/helpdesk/action",
        json=params,
        headers={"Authorization": f"Bearer {ACTION_TOKEN}"},
    )
    assert accepted.status_code == 200
    assert [t.handles.conversation_token for t in door.turns] == ["ct_1"]
    assert door.turns[0].handles.robot_code == ROBOT_CODE


@pytest.mark.anyio
async def test_push_with_wrong_bearer_is_401(door: Door) -> None:
    """POST /v1/push with a wrong token is a 401 and runs nothing."""
    body = {"to": "user:union-1", "prompt": "日报"}
    response = await door.http.post(
        "/v1/push", json=body, headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    assert door.pushes == []


@pytest.mark.anyio
async def test_push_validates_and_runs(door: Door) -> None:
    """A valid push names its target and prompt; a bad target is a 400."""
    auth = {"Authorization": f"Bearer {PUSH_TOKEN}"}
    bad = await door.http.post("/v1/push", json={"to": "phone:1", "prompt": "x"}, headers=auth)
    assert bad.status_code == 400
    good = await door.http.post(
        "/v1/push", json={"to": "group:cid-group", "prompt": " 日报 "}, headers=auth
    )
    assert good.status_code == 200
    assert door.pushes == [
        PushRequest(assistant="helpdesk", to=PushTarget("group", "cid-group"), prompt="日报")
    ]


@pytest.mark.anyio
async def test_healthz(door: Door) -> None:
    """/healthz answers with status and counters."""
    response = await door.http.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.text) == {"status": "ok", "answered": 0}


def test_door_of_a_configured_assistant() -> None:
    """AssistantDoor.from_config unwraps the secrets and defaults the robot to the client id."""
    assistant = AssistantConfig.model_validate(
        {"name": "helpdesk", "client_id": "ding-app", "client_secret": SECRET}
    )
    assert AssistantDoor.from_config(assistant) == AssistantDoor(
        "helpdesk", SECRET, None, robot_code="ding-app"
    )
    with_token = assistant.model_copy(
        update={"action_token": SecretStr(ACTION_TOKEN), "robot_code": "ding-robot"}
    )
    assert AssistantDoor.from_config(with_token) == AssistantDoor(
        "helpdesk", SECRET, ACTION_TOKEN, robot_code="ding-robot"
    )
