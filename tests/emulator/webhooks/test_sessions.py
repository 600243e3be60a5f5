"""Session webhooks (contract §5 G and H): replies into the chat, expiry, refusals."""

from __future__ import annotations

import json

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from tests.emulator.wire import TEMPLATE


@pytest.mark.anyio
async def test_robot_webhook_text_and_markdown(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """sendBySession posts finished messages and answers errcode 0."""
    url = (await control.inbound("bob", "cid-group", "hi")).chatbot_message["sessionWebhook"]
    bodies = [
        {"msgtype": "text", "text": {"content": "plain"}, "at": {"atUserIds": ["bob"]}},
        {"msgtype": "markdown", "markdown": {"title": "t", "text": "## md"}},
    ]
    for body in bodies:
        response = await http.post(url, json=body)
        assert (response.status_code, response.json()) == (200, {"errcode": 0, "errmsg": "ok"})
    texts = [(m.text, m.state, m.via) for m in await control.transcript("cid-group")]
    assert texts[1:] == [
        ("plain", "finished", "robot.sendBySession"),
        ("## md", "finished", "robot.sendBySession"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [{"msgtype": "voice"}, {"msgtype": "text"}, {"msgtype": "markdown", "markdown": {"text": "x"}}],
)
async def test_robot_webhook_malformed_body(
    http: httpx2.AsyncClient, control: EmulatorControl, body: dict[str, object]
) -> None:
    """A malformed body gets HTTP 200 with a non-zero errcode and an errmsg."""
    url = (await control.inbound("alice", "cid-alice", "hi")).chatbot_message["sessionWebhook"]
    response = await http.post(url, json=body)
    assert response.status_code == 200
    assert response.json()["errcode"] not in (0, 300001)
    assert response.json()["errmsg"]


@pytest.mark.anyio
async def test_webhooks_expire(http: httpx2.AsyncClient, control: EmulatorControl) -> None:
    """After its lifetime (90 min) a session answers 300001 "session 不存在"."""
    inbound = await control.inbound("alice", "cid-alice", "hi")
    expires_ms = inbound.chatbot_message["sessionWebhookExpiredTime"]
    assert 89 * 60_000 < expires_ms - inbound.chatbot_message["createAt"] <= 90 * 60_000
    await control.advance_clock(90 * 60 + 1)
    robot = await http.post(
        inbound.chatbot_message["sessionWebhook"],
        json={"msgtype": "text", "text": {"content": "x"}},
    )
    agent = await http.post(
        inbound.action["sessionWebhook"],
        json={"contentType": "ai_card", "content": {"templateId": TEMPLATE, "cardData": {}}},
    )
    for response in (robot, agent):
        assert response.status_code == 200
        assert response.json() == {"errcode": 300001, "errmsg": "session 不存在"}


@pytest.mark.anyio
async def test_unknown_session_is_gone(http: httpx2.AsyncClient) -> None:
    """A session the platform never issued answers 300001."""
    response = await http.post("/robot/sendBySession", params={"session": "nope"}, json={})
    assert response.json()["errcode"] == 300001


@pytest.mark.anyio
@pytest.mark.parametrize("as_string", [False, True])
async def test_agent_webhook_posts_a_card(
    http: httpx2.AsyncClient, control: EmulatorControl, as_string: bool
) -> None:
    """agent/send accepts content as an object or a JSON string and answers success."""
    inbound = await control.inbound("alice", "cid-wand-alice", "hi")
    url = inbound.action["sessionWebhook"]
    assert "/agent/send?session=aswh_" in url
    content = {
        "templateId": "d28e2ac5-fb34-4d93-94bc-cf5c580c2d4f.schema",
        "cardData": {"content": "**md**"},
    }
    body = {"contentType": "ai_card", "content": json.dumps(content) if as_string else content}
    response = await http.post(url, json=body)
    assert response.json() == {"success": True, "errcode": 0, "errmsg": "ok"}
    message = (await control.transcript("cid-wand-alice"))[-1]
    assert (message.text, message.state, message.via) == ("**md**", "finished", "agent.send")
