"""Tests for bridge.dingtalk.wire: request bodies and success-body parsing."""

from __future__ import annotations

import json

import pytest

from bridge.dingtalk import wire
from bridge.dingtalk.operations import Operation
from bridge.errors import PlatformRejected, PlatformUnavailable


def test_streaming_card_content_is_a_json_string_with_full_text() -> None:
    """A streaming update carries key/value/isFinalize/isFull and the streaming tag."""
    card = wire.StreamingCard("tpl.schema", "content", "你好 **md**", finalize=True)
    body = wire.ai_content_body(card)
    assert body["contentType"] == "ai_card"
    assert isinstance(body["content"], str)
    assert json.loads(body["content"]) == {
        "templateId": "tpl.schema",
        "cardData": {"key": "content", "value": "你好 **md**", "isFinalize": True, "isFull": True},
        "options": {"componentTag": "streamingComponent"},
    }
    assert "你好" in body["content"]  # not \u-escaped


def test_static_card_content() -> None:
    """A static update maps variables under the static component tag."""
    body = wire.ai_content_body(wire.StaticCard("tpl.schema", {"title": "t"}))
    assert json.loads(body["content"]) == {
        "templateId": "tpl.schema",
        "cardData": {"title": "t"},
        "options": {"componentTag": "staticComponent"},
    }


def test_basic_card_content_type_and_schema() -> None:
    """A basic card is sent as basic_card_schema with a header when titled."""
    body = wire.ai_content_body(wire.BasicCard("body", title="T"))
    assert body["contentType"] == "basic_card_schema"
    schema = json.loads(body["content"])
    assert schema["header"] == {"title": {"type": "text", "text": "T"}}
    assert schema["contents"] == [{"type": "text", "text": "body", "id": "text"}]
    assert "header" not in json.loads(wire.ai_content_body(wire.BasicCard("x"))["content"])


def test_targets_name_the_wire_field() -> None:
    """Target.user/conversation carry the field name prepare/send put in the body."""
    assert wire.Target.user("u1") == wire.Target("unionId", "u1")
    assert wire.Target.conversation("cid1") == wire.Target("openConversationId", "cid1")


def test_ai_webhook_content_is_an_object() -> None:
    """The AI-assistant webhook takes content as an object, not a string (§5 H)."""
    body = wire.ai_webhook_body("**hi**")
    assert body == {
        "contentType": "ai_card",
        "content": {
            "templateId": wire.AI_WEBHOOK_MARKDOWN_TEMPLATE,
            "cardData": {"content": "**hi**"},
        },
    }


def test_robot_webhook_bodies() -> None:
    """Text and markdown webhook bodies, with and without @-mentions."""
    assert wire.robot_webhook_body(wire.Text("hi")) == {
        "msgtype": "text",
        "text": {"content": "hi"},
    }
    body = wire.robot_webhook_body(wire.Markdown("T", "## md"), wire.At(("s1",)))
    assert body == {
        "msgtype": "markdown",
        "markdown": {"title": "T", "text": "## md"},
        "at": {"atUserIds": ["s1"], "isAtAll": False},
    }


def test_robot_send_bodies_use_msg_key_and_string_param() -> None:
    """Group and 1:1 sends carry msgKey and a JSON-string msgParam."""
    group = wire.robot_group_send_body("robot", "cid", wire.Markdown("T", "x"))
    assert group["msgKey"] == "sampleMarkdown"
    assert json.loads(group["msgParam"]) == {"title": "T", "text": "x"}
    oto = wire.robot_oto_send_body("robot", ("a", "b"), wire.Text("hi"))
    assert oto == {
        "robotCode": "robot",
        "userIds": ["a", "b"],
        "msgKey": "sampleText",
        "msgParam": '{"content":"hi"}',
    }
    with pytest.raises(ValueError, match="1 to 20"):
        wire.robot_oto_send_body("robot", tuple(str(i) for i in range(21)), wire.Text("x"))


def test_parse_access_token() -> None:
    """An access token answer becomes a value whose repr hides the token."""
    token = wire.parse_access_token({"accessToken": "secret-token", "expireIn": 7200})
    assert token == wire.AccessToken("secret-token", 7200.0)
    assert "secret-token" not in repr(token)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"accessToken": "", "expireIn": 7200},
        {"accessToken": "x"},
        {"accessToken": "x", "expireIn": True},
        {"accessToken": "x", "expireIn": 0},
    ],
)
def test_parse_access_token_rejects_malformed(body: object) -> None:
    """A token answer without a token or a positive lifetime is PlatformUnavailable."""
    with pytest.raises(PlatformUnavailable):
        wire.parse_access_token(body)


def test_parse_prepare() -> None:
    """prepare's token is read from result.conversationToken."""
    assert wire.parse_prepare({"result": {"conversationToken": "ct_1"}}) == "ct_1"
    with pytest.raises(PlatformUnavailable):
        wire.parse_prepare({"conversationToken": "ct_1"})


@pytest.mark.parametrize(
    "body",
    [
        {"success": True},
        {"result": {"success": True}},
        {"success": True, "result": {"success": True}},
        {"success": True, "result": True},
        {},
        None,
    ],
)
def test_require_success_accepts_every_documented_form(body: object) -> None:
    """Top-level success, result.success, both, or no flag at all are success (§9.2)."""
    wire.require_success(Operation.AI_SEND, body)


@pytest.mark.parametrize("body", [{"success": False}, {"result": {"success": False}}])
def test_require_success_refuses_false(body: object) -> None:
    """An explicit success: false is a PlatformRejected naming the operation."""
    with pytest.raises(PlatformRejected) as caught:
        wire.require_success(Operation.AI_SEND, body)
    assert caught.value.operation == "aiInteraction.send"


def test_parse_robot_send() -> None:
    """A robot send answer yields the process key and the staff lists."""
    body = {"processQueryKey": "k", "invalidStaffIdList": ["x"], "flowControlledStaffIdList": []}
    assert wire.parse_robot_send(Operation.ROBOT_OTO_SEND, body) == wire.RobotSendResult(
        "k", ("x",)
    )
    with pytest.raises(PlatformUnavailable):
        wire.parse_robot_send(Operation.ROBOT_GROUP_SEND, {})


def test_gateway_open_body() -> None:
    """The ticket request carries the credentials, subscriptions, ua and localIp (§6.1)."""
    body = wire.gateway_open_body(
        "ding-app",
        "s3cret",
        [wire.Subscription.callback("/v1.0/im/bot/messages/get")],
        ua="dingtalk-stream-bridge/v1.2.3",
        local_ip="10.0.0.5",
    )
    assert body == {
        "clientId": "ding-app",
        "clientSecret": "s3cret",
        "subscriptions": [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}],
        "ua": "dingtalk-stream-bridge/v1.2.3",
        "localIp": "10.0.0.5",
    }


def test_parse_stream_ticket() -> None:
    """A ticket answer becomes a value whose repr hides the ticket; extras are ignored."""
    body = {"endpoint": "wss://gw.example/connect", "ticket": "t-123", "extras": {}}
    ticket = wire.parse_stream_ticket(body)
    assert ticket == wire.StreamTicket("wss://gw.example/connect", "t-123")
    assert "t-123" not in repr(ticket)


@pytest.mark.parametrize(
    "body",
    [None, [], {}, {"endpoint": "wss://x"}, {"ticket": "t"}, {"endpoint": "", "ticket": "t"}],
)
def test_parse_stream_ticket_rejects_malformed(body: object) -> None:
    """A ticket answer without an endpoint and a ticket is PlatformUnavailable."""
    with pytest.raises(PlatformUnavailable) as caught:
        wire.parse_stream_ticket(body)
    assert caught.value.operation == "gateway.connections.open"


def test_decode_json() -> None:
    """decode_json returns None for empty or non-JSON bodies."""
    assert wire.decode_json(b'{"a":1}') == {"a": 1}
    assert wire.decode_json(b"") is None
    assert wire.decode_json(b"<html>") is None
    assert wire.decode_json(b"\xff\xfe") is None
