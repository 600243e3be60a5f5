"""The HTTP doors over loopback, against bad and hostile requests: malformed or deep JSON,
oversized or unfinished bodies, wrong fields, surrogates and control characters, forged
log lines, unknown routes, and failures behind a door (a JSON 500, on_fatal).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from tests.inbound.doors import Door, robot_message, signed


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
