"""The HTTP doors over loopback: signatures, bearer tokens, sizes, JSON and reply hosts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from bridge.admission import ACCEPTED, Admission, Outcome
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


@dataclass
class Door:
    """A served app plus what it handed over, and what its pipeline stand-in answers."""

    url: str
    http: httpx2.AsyncClient
    turns: list[Turn] = field(default_factory=list)
    pushes: list[PushRequest] = field(default_factory=list)
    admission: Admission = ACCEPTED
    push_result: dict[str, Any] = field(default_factory=lambda: {"ok": True})
    crash: BaseException | None = None
    skew: float = 0.0  # seconds added to the door's clock
    fatal: list[BaseException] = field(default_factory=list)


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


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (robot_message(text={"content": ["x"]}), "text.content must be message text"),
        (robot_message(sessionWebhookExpiredTime=10**30), "sessionWebhookExpiredTime is out of"),
        (robot_message(sessionWebhookExpiredTime=10**15), "sessionWebhookExpiredTime must be"),
        (robot_message(sessionWebhook="https://oapi.dingtalk.com/r\tx"), "sessionWebhook may"),
        (robot_message(conversationId={"a": 1}), "conversationId must be an id"),
    ],
)
async def test_a_wrong_field_is_400_naming_it(door: Door, body: dict[str, Any], words: str) -> None:
    """Wrong types, absurd numbers and bad URLs are 400s that name the field."""
    if "\\t" in str(body.get("sessionWebhook")):
        body["sessionWebhook"] = body["sessionWebhook"].replace("\\t", "\t")
    response = await door.http.post("/dingtalk/helpdesk/robot", json=body, headers=signed())
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert door.turns == []


@pytest.mark.anyio
async def test_surrogates_and_controls_are_cleaned_before_the_turn(door: Door) -> None:
    """Lone surrogates and NULs in text and nick arrive as U+FFFD; the Turn encodes."""
    raw = json.dumps(robot_message(text={"content": "a\ud800b\u0000c\nd"}, senderNick="x\udfff"))
    response = await door.http.post(
        "/dingtalk/helpdesk/robot", content=raw.encode(), headers=signed()
    )
    assert response.status_code == 200
    [turn] = door.turns
    assert turn.text == "a\ufffdb\ufffdc\nd"
    assert turn.sender.nick == "x\ufffd"


@pytest.mark.anyio
async def test_deep_json_is_400_and_the_door_stays_up(door: Door) -> None:
    """Thousands of nested arrays are refused before parsing; /healthz still answers."""
    deep = b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}"
    response = await door.http.post("/dingtalk/helpdesk/robot", content=deep, headers=signed())
    assert response.status_code == 400
    assert "nests deeper" in response.json()["error"]
    assert (await door.http.get("/healthz")).status_code == 200


@pytest.mark.anyio
async def test_any_failure_is_a_json_500_logged_once_and_the_door_goes_on(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    """An unforeseen exception behind a door: 500 {"error"}, one log line with the ids."""
    door.crash = RuntimeError("disk on fire")
    response = await door.http.post(
        "/dingtalk/helpdesk/robot", json=robot_message(), headers=signed()
    )
    assert response.status_code == 500
    assert "error" in response.json()
    failures = [r for r in caplog.records if "disk on fire" in r.getMessage()]
    assert len(failures) == 1
    assert "conversation=cid1" in failures[0].getMessage()
    assert "msg:m1" in failures[0].getMessage()
    door.crash = None
    again = robot_message(msgId="m2")
    ok = await door.http.post("/dingtalk/helpdesk/robot", json=again, headers=signed())
    assert ok.status_code == 200


@pytest.mark.anyio
async def test_unknown_routes_answer_json(door: Door) -> None:
    """Starlette's own 404/405 are JSON {"error"} too."""
    missing = await door.http.get("/nowhere")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
    wrong = await door.http.get("/v1/push")
    assert wrong.status_code == 405
    assert "error" in wrong.json()


@pytest.mark.anyio
async def test_a_body_that_never_finishes_is_408(door: Door) -> None:
    """A client that stops sending its body gets 408 after body_timeout, then the socket closes."""
    host, port = door.url.removeprefix("http://").split(":")
    stamp = signed()
    head = (
        "POST /dingtalk/helpdesk/robot HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
        f"timestamp: {stamp['timestamp']}\r\nsign: {stamp['sign']}\r\n\r\n"
        '{"conversationId":'
    )
    async with await anyio.connect_tcp(host, int(port)) as sock:
        await sock.send(head.encode())
        received = b""
        with anyio.fail_after(10):
            try:
                while chunk := await sock.receive():
                    received += chunk
            except anyio.EndOfStream:
                pass
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"within" in received


@pytest.mark.anyio
async def test_a_base_exception_in_a_request_is_handed_to_on_fatal(door: Door) -> None:
    """SystemExit in a request is not swallowed by the boundary: on_fatal gets it first."""
    door.crash = SystemExit(3)
    response = await door.http.post(
        "/dingtalk/helpdesk/robot", json=robot_message(), headers=signed()
    )
    assert response.status_code == 500  # uvicorn's own answer, after the boundary let go
    assert [type(e) for e in door.fatal] == [SystemExit]


@pytest.mark.anyio
async def test_a_newline_in_the_path_cannot_forge_a_log_line(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    """%0A in a path is logged as U+FFFD, so one request is one log line."""
    response = await door.http.post("/dingtalk/x%0A2026-01-01 ERROR forged/robot", json={})
    assert response.status_code == 404
    [line] = [r.getMessage() for r in caplog.records if "refused POST" in r.getMessage()]
    assert "\n" not in line
