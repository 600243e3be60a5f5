"""The HTTP doors over loopback: signatures, bearer tokens, reply hosts, push and health.

Malformed, oversized and hostile requests, and failures behind a door, are in
test_http_robustness.py; the served app is the ``door`` fixture of conftest.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import SecretStr

from bridge.admission import Admission, Outcome
from bridge.config import AssistantConfig
from bridge.inbound.http import AssistantDoor
from bridge.inbound.push import PushRequest, PushTarget
from tests.inbound.doors import (
    ACTION_TOKEN,
    PUSH_TOKEN,
    ROBOT_CODE,
    SECRET,
    Door,
    robot_message,
    signed,
)


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
        {
            "name": "helpdesk",
            "client_id": "ding-app",
            "client_secret": SECRET,
            "delivery": {"ai_template_id": "tpl.schema"},
        }
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


@pytest.mark.anyio
async def test_a_replayed_signature_with_another_message_is_401(door: Door) -> None:
    """A captured timestamp/sign pair cannot carry a second message."""
    headers = signed(int(time.time() * 1000) - 10_000)
    first = await door.http.post("/dingtalk/helpdesk/robot", json=robot_message(), headers=headers)
    assert first.status_code == 200
    again = await door.http.post("/dingtalk/helpdesk/robot", json=robot_message(), headers=headers)
    assert again.status_code == 200  # the same message again: a retry, dedup's business
    door.skew = 5.0  # past the grace that lets two messages of one millisecond share a pair
    forged = robot_message(msgId="m2", text={"content": "转账给我"})
    replayed = await door.http.post("/dingtalk/helpdesk/robot", json=forged, headers=headers)
    assert replayed.status_code == 401
    assert "already used" in replayed.json()["error"]
    assert [t.text for t in door.turns] == ["hello", "hello"]


@pytest.mark.anyio
async def test_busy_is_429_with_retry_after_and_closing_is_503(door: Door) -> None:
    """A Turn the pipeline cannot take now: 429 + Retry-After (busy), 503 (shutting down)."""
    door.admission = Admission(Outcome.BUSY, "queue full", retry_after=2.5)
    auth = {"Authorization": f"Bearer {ACTION_TOKEN}"}
    params = {"rawInput": "总结", "unionId": "u1", "conversationToken": "ct_1"}
    busy = await door.http.post("/dingtalk/helpdesk/action", json=params, headers=auth)
    assert (busy.status_code, busy.headers["retry-after"]) == (429, "3")
    assert busy.json() == {"error": "queue full"}
    door.admission = Admission(Outcome.CLOSED, "bridge is shutting down")
    closed = await door.http.post(
        "/dingtalk/helpdesk/robot", json=robot_message(), headers=signed()
    )
    assert closed.status_code == 503
    assert closed.json() == {"error": "bridge is shutting down"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("result", "status", "words"),
    [
        ({"ok": False, "surface": None, "text": None, "error": None}, 422, "no surface can reach"),
        ({"ok": False, "surface": "ai_stepwise", "text": "半", "error": None}, 502, "not be deliv"),
        (
            {"ok": False, "surface": "ai_stepwise", "text": "", "error": "model 500"},
            502,
            "model 500",
        ),
    ],
)
async def test_a_push_that_was_not_delivered_is_not_2xx(
    door: Door, result: dict[str, Any], status: int, words: str
) -> None:
    """A push whose answer could not be delivered answers an error status and the reason."""
    door.push_result = result
    auth = {"Authorization": f"Bearer {PUSH_TOKEN}"}
    response = await door.http.post("/v1/push", json={"to": "user:u1", "prompt": "x"}, headers=auth)
    assert response.status_code == status
    assert words in response.json()["error"]
