"""bridge.inbound.fields: each payload's fields typed, validated and cleaned at the door."""

from __future__ import annotations

import pytest

from bridge.errors import InboundError
from bridge.inbound.fields import ACTION, BOT_MESSAGE, PUSH, Rules, checked
from bridge.inbound.sanitize import REPLACEMENT

RULES = Rules(reply_hosts=("oapi.dingtalk.com",))
HOOK = "https://oapi.dingtalk.com/robot/sendBySession?session=c610"


def message(**fields: object) -> dict[str, object]:
    return {
        "conversationId": "cid1",
        "conversationType": "2",
        "msgId": "msg1",
        "msgtype": "text",
        "text": {"content": "你好"},
        "senderStaffId": "s1",
        "senderNick": "小钉",
        "sessionWebhook": HOOK,
        "sessionWebhookExpiredTime": 1695204671648,
        **fields,
    }


def test_a_valid_message_passes_unchanged() -> None:
    """A documented ChatbotMessage comes out equal to what went in."""
    assert checked(message(), BOT_MESSAGE, RULES) == message()


def test_unknown_fields_pass_through() -> None:
    """Fields bridge does not read are not judged."""
    assert checked(message(extra={"x": [1]}), BOT_MESSAGE, RULES)["extra"] == {"x": [1]}


def test_names_are_one_line_and_text_keeps_its_lines() -> None:
    """A nick loses its newline; the message text keeps newlines and tabs."""
    out = checked(
        message(senderNick="a\nb", text={"content": "x\n\ty"}, conversationTitle="t\x00"),
        BOT_MESSAGE,
        RULES,
    )
    assert out["senderNick"] == f"a{REPLACEMENT}b"
    assert out["conversationTitle"] == f"t{REPLACEMENT}"
    assert out["text"] == {"content": "x\n\ty"}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"text": {"content": 5}}, "text.content must be message text"),
        ({"text": "hi"}, "text must be an object"),
        ({"msgId": ["m"]}, "msgId must be an id"),
        ({"conversationType": True}, "conversationType must be"),
        ({"conversationId": "cid 1"}, "conversationId must be characters"),
        ({"senderStaffId": "s\ud800"}, "senderStaffId must be characters"),
        ({"sessionWebhook": HOOK + "\t"}, "sessionWebhook may only hold printable ASCII"),
        ({"sessionWebhook": "https://evil.example/x"}, "not on the allow-list"),
        ({"sessionWebhookExpiredTime": 10**300}, "sessionWebhookExpiredTime must be epoch"),
        ({"sessionWebhookExpiredTime": "soon"}, "sessionWebhookExpiredTime must be epoch"),
        ({"msgtype": "richText", "content": {"richText": 5}}, "content.richText must be a list"),
        ({"text": {"content": "x" * 20_001}}, "text.content is longer than"),
        ({"atUsers": [{"staffId": 1}]}, "atUsers[0].staffId must be a string"),
    ],
)
def test_a_bad_field_is_a_400_that_names_it(fields: dict[str, object], words: str) -> None:
    """Wrong type, bad id, bad URL, absurd number, oversized text: 400 naming the field."""
    with pytest.raises(InboundError) as caught:
        checked(message(**fields), BOT_MESSAGE, RULES)
    assert caught.value.status == 400
    assert words in caught.value.message


def test_null_and_empty_count_as_absent() -> None:
    """null and "" are left for the payload reader, which treats them as absent."""
    out = checked(message(senderStaffId=None, senderNick=""), BOT_MESSAGE, RULES)
    assert (out["senderStaffId"], out["senderNick"]) == (None, "")


def test_action_and_push_fields_are_checked_too() -> None:
    """The action's token and webhook, the push prompt: same rules."""
    with pytest.raises(InboundError, match="conversationToken must be characters"):
        checked({"rawInput": "hi", "conversationToken": "a\nb"}, ACTION, RULES)
    with pytest.raises(InboundError, match="prompt must be message text"):
        checked({"to": "user:u1", "prompt": {"x": 1}}, PUSH, RULES)
    assert checked({"to": "user:u1", "prompt": "日报\r\n"}, PUSH, RULES)["prompt"] == "日报\n"


def test_where_prefixes_the_field_name() -> None:
    """A nested payload's errors say where it was."""
    with pytest.raises(InboundError, match=r"^action body\.rawInput must be"):
        checked({"rawInput": 1}, ACTION, RULES, where="action body")
