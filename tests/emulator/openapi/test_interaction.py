"""AI assistant interaction: reply, prepare, update, finish and send (§3, §8)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from tests.emulator.wire import TEMPLATE, ai_body, static, streaming

REPLY = "/v1.0/aiInteraction/reply"
PREPARE = "/v1.0/aiInteraction/prepare"
UPDATE = "/v1.0/aiInteraction/update"
FINISH = "/v1.0/aiInteraction/finish"
SEND = "/v1.0/aiInteraction/send"


async def _reply_token(control: EmulatorControl, conversation: str = "cid-alice") -> str:
    inbound = await control.inbound("alice", conversation, "你好")
    return inbound.action["conversationToken"]


async def _prepare(http: httpx2.AsyncClient, auth: dict[str, str], **target: str) -> str:
    body = {**target, "contentType": "ai_card", "content": json.dumps({"templateId": TEMPLATE})}
    response = await http.post(PREPARE, json=body, headers=auth)
    assert response.status_code == 200, response.text
    token: str = response.json()["result"]["conversationToken"]
    return token


def _assert_error(response: httpx2.Response, code: str, message: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code
    if message is not None:
        assert body["message"] == message


@pytest.mark.anyio
async def test_reply_stream_shows_inputting_then_finished(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """Streaming replies replace the text; isFinalize finishes the message."""
    token = await _reply_token(control)
    for value, finalize in (("你", False), ("你好", False), ("你好，世界", True)):
        response = await http.post(
            REPLY, json=ai_body(token, streaming(value, finalize=finalize)), headers=auth
        )
        assert response.status_code == 200
        assert response.json() == {"result": {"success": True}}
    bot = [m for m in await control.transcript("cid-alice") if m.sender_kind == "bot"]
    assert len(bot) == 1
    assert bot[0].text == "你好，世界"
    assert [(c.state, c.text) for c in bot[0].changes] == [
        ("inputting", "你"),
        ("inputting", "你好"),
        ("finished", "你好，世界"),
    ]
    assert bot[0].via == "aiInteraction.reply"


@pytest.mark.anyio
async def test_static_reply_is_a_finished_answer(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A static reply (cardData as an object inside the string) is finished at once."""
    token = await _reply_token(control, "cid-group")
    response = await http.post(
        REPLY, json=ai_body(token, static({"content": "done"})), headers=auth
    )
    assert response.status_code == 200
    message = (await control.transcript("cid-group"))[-1]
    assert (message.state, message.text, message.sender_kind) == ("finished", "done", "bot")
    again = await http.post(REPLY, json=ai_body(token, static({"content": "x"})), headers=auth)
    _assert_error(again, "invalid.conversation.token")


@pytest.mark.anyio
async def test_content_may_be_an_object_and_card_data_a_string(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """The emulator accepts content as an object and cardData as a JSON string (§9.5)."""
    token = await _reply_token(control)
    content = {"templateId": TEMPLATE, "cardData": json.dumps({"content": "obj"})}
    response = await http.post(REPLY, json=ai_body(token, content), headers=auth)
    assert response.status_code == 200
    assert (await control.transcript("cid-alice"))[-1].text == "obj"


@pytest.mark.anyio
async def test_append_mode_concatenates(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """isFull false appends to the variable; the default replaces it."""
    token = await _reply_token(control)
    for value, full in (("a", None), ("b", False), ("c", False)):
        await http.post(REPLY, json=ai_body(token, streaming(value, full=full)), headers=auth)
    assert (await control.transcript("cid-alice"))[-1].text == "abc"


@pytest.mark.anyio
async def test_prepare_update_finish_flow(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """prepare shows preparing, updates stream, isFinalize finishes, finish closes the token."""
    token = await _prepare(http, auth, unionId="union-bob")
    bob_chat = (await control.messages("preparing"))[0].conversation_id
    for value, finalize in (("一", False), ("一二", True)):
        response = await http.post(
            UPDATE, json=ai_body(token, streaming(value, finalize=finalize)), headers=auth
        )
        assert response.json() == {"result": {"success": True}}
    finish = await http.post(FINISH, json={"conversationToken": token}, headers=auth)
    assert finish.json() == {"result": {"success": True}}
    message = (await control.transcript(bob_chat))[-1]
    assert [c.state for c in message.changes] == ["preparing", "inputting", "finished"]
    assert message.text == "一二"
    again = await http.post(FINISH, json={"conversationToken": token}, headers=auth)
    _assert_error(again, "invalid.conversation.token")
    assert await control.messages("preparing", "inputting") == []


@pytest.mark.anyio
async def test_static_update_waits_for_finish(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A static update keeps the message inputting until finish; keys merge."""
    token = await _prepare(http, auth, openConversationId="cid-group")
    await http.post(UPDATE, json=ai_body(token, static({"content": "x", "k": "1"})), headers=auth)
    await http.post(UPDATE, json=ai_body(token, static({"content": "y"})), headers=auth)
    message = (await control.transcript("cid-group"))[-1]
    assert (message.state, message.text, message.card_data) == (
        "inputting",
        "y",
        {"content": "y", "k": "1"},
    )
    await http.post(FINISH, json={"conversationToken": token}, headers=auth)
    assert (await control.message(message.id)).state == "finished"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "templateId cannot be null or empty"),
        (json.dumps({"cardData": {}}), "templateId cannot be null or empty"),
        (json.dumps({"templateId": "nope.schema"}), "card template not exist"),
        (
            json.dumps({"templateId": TEMPLATE, "options": {"componentTag": "fancy"}}),
            "invalid componentTag",
        ),
        (streaming("v", key="other"), "card streaming key invalid"),
        (
            json.dumps(
                {
                    "templateId": TEMPLATE,
                    "cardData": {"key": "content", "value": "v"},
                    "options": {"componentTag": "streamingComponent"},
                }
            ),
            None,
        ),
        ("not json", None),
    ],
    ids=["none", "no-template", "unknown", "tag", "key", "no-finalize", "not-json"],
)
async def test_bad_content_is_invalid_content(
    http: httpx2.AsyncClient,
    auth: dict[str, str],
    control: EmulatorControl,
    content: Any,
    message: str | None,
) -> None:
    """Each documented content mistake gets 400 invalid.content with its message."""
    token = await _reply_token(control)
    response = await http.post(REPLY, json=ai_body(token, content), headers=auth)
    _assert_error(response, "invalid.content", message)


@pytest.mark.anyio
async def test_template_is_pinned_to_the_token(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """Changing the template mid-flow is refused."""
    token = await _reply_token(control)
    await http.post(REPLY, json=ai_body(token, streaming("a")), headers=auth)
    other = streaming("b", key="msgContent", template="382e4302-551d-4880-bf29-a30acfab2e71.schema")
    response = await http.post(REPLY, json=ai_body(token, other), headers=auth)
    _assert_error(
        response, "invalid.content", "templateId in content is not equal to templateId in context"
    )


@pytest.mark.anyio
async def test_wrong_content_type_and_unknown_token(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A markdown contentType is invalid.content.type; an unknown token is refused."""
    token = await _reply_token(control)
    markdown = await http.post(REPLY, json=ai_body(token, "{}", "markdown"), headers=auth)
    _assert_error(markdown, "invalid.content.type")
    unknown = await http.post(REPLY, json=ai_body("ct_nope", streaming("a")), headers=auth)
    _assert_error(unknown, "invalid.conversation.token")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"unionId": "union-nobody"}, "invalid unionId"),
        ({"openConversationId": "cid-nowhere"}, "invalid openConversationId"),
        ({"openConversationId": ""}, "invalid openConversationId"),
        # A robot message's conversationId of a single chat is no openConversationId.
        ({"openConversationId": "cid-alice"}, "invalid openConversationId"),
    ],
)
async def test_prepare_needs_a_real_target(
    http: httpx2.AsyncClient, auth: dict[str, str], target: dict[str, str], message: str
) -> None:
    """prepare refuses unknown users and conversations (the magic wand has no open id)."""
    body = {**target, "contentType": "ai_card", "content": json.dumps({"templateId": TEMPLATE})}
    response = await http.post(PREPARE, json=body, headers=auth)
    _assert_error(response, "invalid.param", message)


@pytest.mark.anyio
async def test_single_chat_is_reached_by_union_id_or_the_actions_open_id(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A single chat takes the user's unionId, or the openConversationId an action carries."""
    said = await control.inbound("alice", "cid-alice", "你好", door="action")
    assert said.chatbot_message["conversationId"] == "cid-alice"
    assert said.action["openConversationId"] == "oc-cid-alice"
    await _prepare(http, auth, unionId="union-alice")
    await _prepare(http, auth, openConversationId=said.action["openConversationId"])
    opened = await control.transcript("cid-alice")
    assert [m.state for m in opened if m.sender_kind == "bot"] == ["preparing", "preparing"]


@pytest.mark.anyio
async def test_unknown_template_is_refused(http: httpx2.AsyncClient, auth: dict[str, str]) -> None:
    """Only templates somebody created exist: any other id is "card template not exist"."""
    body = {
        "unionId": "union-alice",
        "contentType": "ai_card",
        "content": json.dumps({"templateId": "bridge-markdown.schema"}),
    }
    response = await http.post(PREPARE, json=body, headers=auth)
    _assert_error(response, "invalid.content", "card template not exist")


@pytest.mark.anyio
async def test_robot_app_is_not_an_ai_assistant(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """aiInteraction with a robot app's token is invalid.param "ai assistant not found"."""
    await control.register_app("robot-app", "s3cret", kind="robot")
    token = (
        await http.post(
            "/v1.0/oauth2/accessToken", json={"appKey": "robot-app", "appSecret": "s3cret"}
        )
    ).json()["accessToken"]
    body = {
        "unionId": "union-alice",
        "contentType": "ai_card",
        "content": json.dumps({"templateId": TEMPLATE}),
    }
    response = await http.post(PREPARE, json=body, headers={"x-acs-dingtalk-access-token": token})
    _assert_error(response, "invalid.param", "ai assistant not found")


@pytest.mark.anyio
async def test_send_basic_card(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """send posts one finished message and answers both documented success shapes."""
    card = {
        "header": {"title": {"type": "text", "text": "通知"}},
        "contents": [{"type": "text", "text": "部署完成", "id": "t1"}],
    }
    body = {
        "openConversationId": "cid-group",
        "contentType": "basic_card_schema",
        "content": json.dumps(card),
    }
    response = await http.post(SEND, json=body, headers=auth)
    assert response.json() == {"success": True, "result": {"success": True}}
    message = (await control.transcript("cid-group"))[-1]
    assert (message.state, message.text, message.via) == (
        "finished",
        "通知\n部署完成",
        "aiInteraction.send",
    )
    bad = await http.post(SEND, json={**body, "contentType": "text"}, headers=auth)
    _assert_error(bad, "invalid.content.type")
