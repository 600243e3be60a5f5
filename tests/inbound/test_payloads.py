"""Inbound payloads become Turns; anything malformed is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import InboundError
from bridge.inbound.payloads import turn_from_action, turn_from_bot_message
from bridge.turn import ConversationType


def bot_message(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "conversationId": "cidGROUP1",
        "conversationType": "2",
        "conversationTitle": "研发群",
        "msgId": "msgA1",
        "msgtype": "text",
        "text": {"content": " 你好，帮我看看这个报错 "},
        "senderStaffId": "staff-alice",
        "senderNick": "Alice",
        "robotCode": "dingrobot",
        "isInAtList": True,
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=abc",
        "sessionWebhookExpiredTime": 1_700_000_000_000,
    }
    message.update(overrides)
    return message


def test_group_bot_message_becomes_a_turn() -> None:
    """A group ChatbotMessage carries text, sender, webhook expiry and dedup ids."""
    turn = turn_from_bot_message(
        bot_message(), assistant="a", source="stream_bot", received_at=5.0, frame_id="f1"
    )
    assert turn.conversation_type is ConversationType.GROUP
    assert turn.text == "你好，帮我看看这个报错"
    assert turn.sender.nick == "Alice"
    assert turn.handles.robot_webhook is not None
    assert turn.handles.robot_webhook.expires_at == 1_700_000_000.0
    assert turn.handles.open_conversation_id == "cidGROUP1"
    assert turn.delivery_ids == ("msg:msgA1", "frame:f1")


def test_single_chat_bot_message() -> None:
    """conversationType "1" is a single chat."""
    turn = turn_from_bot_message(
        bot_message(conversationType="1", senderUnionId="union-alice"),
        assistant="a",
        source="http_bot",
        received_at=0.0,
    )
    assert turn.conversation_type is ConversationType.SINGLE
    assert turn.handles.union_id == "union-alice"
    # A single chat's conversationId is no openConversationId: proactive sends use the
    # unionId; the conversationId itself stays for the card surface and memory.
    assert turn.handles.open_conversation_id is None
    assert turn.handles.conversation_id == "cidGROUP1"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"conversationId": None}, "conversationId"),
        ({"conversationType": "3"}, "conversationType"),
        ({"msgId": 12}, "msgId"),
        ({"text": {"content": 5}}, "text.content"),
        ({"text": None, "content": {"text": "x"}}, "text.content"),
        ({"msgtype": "chatRecord", "content": {"x": 1}}, "chatRecord"),
        ({"msgtype": "picture", "content": "x"}, "needs a content object"),
        ({"sessionWebhookExpiredTime": "soon"}, "sessionWebhookExpiredTime"),
    ],
)
def test_malformed_bot_message_names_the_field(overrides: dict[str, Any], field: str) -> None:
    """A bad field is a 400 whose message names it."""
    with pytest.raises(InboundError) as info:
        turn_from_bot_message(
            bot_message(**overrides), assistant="a", source="stream_bot", received_at=0.0
        )
    assert info.value.status == 400
    assert field in info.value.message


def test_action_with_token_in_magic_wand() -> None:
    """An action without openConversationId is the magic wand, answered in reply mode."""
    turn = turn_from_action(
        {"rawInput": "总结一下", "userId": "u1", "unionId": "un1", "conversationToken": "ct_1"},
        assistant="a",
        source="stream_action",
        received_at=0.0,
    )
    assert turn.conversation_type is ConversationType.MAGIC_WAND
    assert turn.handles.conversation_token == "ct_1"
    assert turn.delivery_ids == ("act:ct_1",)


def test_a_wand_keyed_by_its_token_keeps_the_token_out_of_the_key() -> None:
    """With only a conversationToken, the wand's key is a stable hash, never the token."""
    params = {"rawInput": "总结一下", "conversationToken": "ct_secret_1"}
    turns = [
        turn_from_action(params, assistant="a", source="stream_action", received_at=t)
        for t in (0.0, 1.0)
    ]
    other = {**params, "conversationToken": "ct_secret_2"}
    third = turn_from_action(other, assistant="a", source="stream_action", received_at=0.0)
    key = turns[0].conversation_key
    assert key.startswith("wand:")
    assert "ct_secret_1" not in key
    assert turns[1].conversation_key == key
    assert third.conversation_key != key


def test_text_may_come_as_a_top_level_content() -> None:
    """The HTTP-mode doc sample's top-level ``content`` string is read like text.content."""
    message = bot_message(content=" 你好")
    del message["text"]
    turn = turn_from_bot_message(message, assistant="a", source="http_bot", received_at=0.0)
    assert turn.text == "你好"


@pytest.mark.parametrize(
    ("text", "in_at_list", "names", "expected"),
    [
        # The platform already removed the robot's @name: only the trim is left.
        (" 你好", True, ("Bridge Dev",), "你好"),
        # Not stripped by the sender: the assistant's own mention leaves, others stay.
        ("@Bridge Dev 你好 @Bob", True, ("Bridge Dev",), "你好 @Bob"),
        ("请 @Bridge Dev\u2005看看", True, ("Bridge Dev",), "请 看看"),
        ("@Bridge Dev你好", True, ("Bridge Dev",), "你好"),
        ("@Bridge Developer 你好", True, ("Bridge Dev",), "@Bridge Developer 你好"),
        ("@小助手 @Bridge Dev 你好", True, ("Bridge Dev", "小助手"), "你好"),
        # Without a mention flag only a leading one goes.
        ("@Bridge Dev 你好 @Bridge Dev", False, ("Bridge Dev",), "你好 @Bridge Dev"),
        ("你好 @Bridge Dev", False, ("Bridge Dev",), "你好 @Bridge Dev"),
        # Without display names bridge cannot tell where a name ends: text stays.
        ("@Bridge Dev 你好", True, (), "@Bridge Dev 你好"),
    ],
)
def test_own_mention_leaves_the_text(
    text: str, in_at_list: bool, names: tuple[str, ...], expected: str
) -> None:
    """The assistant's @display name is removed (everywhere when mentioned); others stay."""
    turn = turn_from_bot_message(
        bot_message(text={"content": text}, isInAtList=in_at_list),
        assistant="a",
        source="stream_bot",
        received_at=0.0,
        display_names=names,
    )
    assert turn.text == expected


def test_robot_among_at_users_counts_as_mentioned() -> None:
    """No isInAtList, but the robot's chatbotUserId in atUsers: it was mentioned."""
    message = bot_message(
        text={"content": "看看 @Bridge Dev"},
        isInAtList=None,
        chatbotUserId="$:LWCP_v1:$bot",
        atUsers=[{"dingtalkId": "$:LWCP_v1:$bob"}, {"dingtalkId": "$:LWCP_v1:$bot"}],
    )
    turn = turn_from_bot_message(
        message,
        assistant="a",
        source="stream_bot",
        received_at=0.0,
        display_names=("Bridge Dev",),
    )
    assert turn.text == "看看"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"openConversationId": "oc-1", "rawInput": "你好"}, ConversationType.SINGLE),
        ({"openConversationId": "cid-g", "rawInput": "@Bridge Dev 你好"}, ConversationType.GROUP),
        ({"openConversationId": "cid-g", "rawInput": "你好 @Bridge Dev"}, ConversationType.GROUP),
        ({"rawInput": "你好"}, ConversationType.MAGIC_WAND),
    ],
)
def test_action_conversation_type_is_inferred(
    params: dict[str, str], expected: ConversationType
) -> None:
    """Open id + own mention is a group, open id alone a single chat, none the wand."""
    full = {"userId": "alice", "unionId": "union-alice", "conversationToken": "ct_1", **params}
    turn = turn_from_action(
        full,
        assistant="a",
        source="stream_action",
        received_at=0.0,
        display_names=("Bridge Dev",),
    )
    assert turn.conversation_type is expected
    assert turn.text == "你好"


def test_action_of_only_a_mention_is_empty() -> None:
    """An action that says nothing but the assistant's name has nothing to answer."""
    with pytest.raises(InboundError, match="rawInput is empty"):
        turn_from_action(
            {"rawInput": "@Bridge Dev ", "conversationToken": "ct_1"},
            assistant="a",
            source="stream_action",
            received_at=0.0,
            display_names=("Bridge Dev",),
        )


def test_action_without_any_reply_handle_is_rejected() -> None:
    """An action the bridge could never answer is refused up front."""
    with pytest.raises(InboundError, match="no way to answer"):
        turn_from_action(
            {"rawInput": "hi", "userId": "u1"}, assistant="a", source="http_action", received_at=0
        )


def test_bot_message_keeps_its_own_robot_code() -> None:
    """A message that names its robot keeps it; the assistant's code is only a default."""
    turn = turn_from_bot_message(
        bot_message(), assistant="a", source="http_bot", received_at=0.0, robot_code="configured"
    )
    assert turn.handles.robot_code == "dingrobot"


def test_bot_message_without_robot_code_gets_the_assistants() -> None:
    """A message without robotCode carries the assistant's configured robot code."""
    turn = turn_from_bot_message(
        bot_message(robotCode=None),
        assistant="a",
        source="stream_bot",
        received_at=0.0,
        robot_code="configured",
    )
    assert turn.handles.robot_code == "configured"


def test_action_carries_the_assistants_robot_code() -> None:
    """An action names no robot: the Turn carries the assistant's robot code."""
    params = {"rawInput": "hi", "openConversationId": "cid1"}
    turn = turn_from_action(
        params, assistant="a", source="http_action", received_at=0.0, robot_code="configured"
    )
    assert turn.handles.robot_code == "configured"
    bare = turn_from_action(params, assistant="a", source="http_action", received_at=0.0)
    assert bare.handles.robot_code is None
