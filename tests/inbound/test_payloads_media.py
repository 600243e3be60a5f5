"""Messages with media become Turns whose parts keep text and media in order (§11).

``Turn.text`` is the message as text with a placeholder per medium; ``Turn.parts``
carries each medium's download code for the answer to fetch.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import InboundError
from bridge.inbound.fields import ACTION, BOT_MESSAGE, Rules, checked
from bridge.inbound.mentions import strip_own_mentions_in
from bridge.inbound.payloads import turn_from_action, turn_from_bot_message
from bridge.turn import Media, MediaKind, Turn
from tests.inbound.test_payloads import bot_message

CODE = "mIofN681YE3f/+m+NntqpT5+w=="


def parsed(msgtype: str, content: Any, **overrides: Any) -> Turn:
    """The Turn of a group message of ``msgtype`` that mentions the robot, checked first."""
    message = bot_message(msgtype=msgtype, content=content, **overrides)
    del message["text"]
    return turn_from_bot_message(
        checked(message, BOT_MESSAGE, Rules(reply_hosts=("oapi.dingtalk.com",))),
        assistant="a",
        source="stream_bot",
        received_at=0.0,
        display_names=("Bridge Dev",),
    )


def test_a_picture_is_one_picture_part_with_its_code() -> None:
    """msgtype picture: parts hold the picture and its downloadCode; text is [图片]."""
    turn = parsed("picture", {"downloadCode": CODE})
    assert turn.parts == (Media(MediaKind.PICTURE, CODE),)
    assert turn.pictures == (Media(MediaKind.PICTURE, CODE),)
    assert turn.text == "[图片]"


def test_a_rich_text_keeps_its_text_and_pictures_in_order() -> None:
    """Text, picture, text, picture: in that order, the mention gone, ends trimmed."""
    items = [
        {"text": "@Bridge Dev 看看这张 "},
        {"type": "picture", "downloadCode": "code-1"},
        {"text": "\n和这张"},
        {"type": "picture", "pictureDownloadCode": "code-2"},
        {"text": " "},
    ]
    turn = parsed("richText", {"richText": items})
    assert turn.parts == (
        "看看这张 ",
        Media(MediaKind.PICTURE, "code-1"),
        "\n和这张",
        Media(MediaKind.PICTURE, "code-2"),
    )
    assert turn.text == "看看这张 [图片]\n和这张[图片]"


def test_a_rich_text_without_pictures_is_plain_text() -> None:
    """Only text (and a peer's at and emoji items): no parts, the text joined."""
    items = [{"text": "你好"}, {"type": "at", "atName": "Bob"}, {"type": "emoji", "text": "[微笑]"}]
    turn = parsed("richText", {"richText": items})
    assert turn.parts == ()
    assert turn.text == "你好@Bob[微笑]"


def test_a_voice_message_is_its_recognized_text() -> None:
    """msgtype audio: DingTalk's recognition is the text, as if typed."""
    content = {"downloadCode": CODE, "duration": 4000, "recognition": "钉钉，让进步发生"}
    turn = parsed("audio", content, conversationType="1")
    assert turn.text == "钉钉，让进步发生"
    assert turn.parts == ()


def test_a_voice_message_without_recognition_is_a_placeholder() -> None:
    """Nothing recognized: the model reads [语音], the code stays in the parts."""
    turn = parsed("audio", {"downloadCode": CODE, "duration": 800}, conversationType="1")
    assert turn.text == "[语音]"
    assert turn.parts == (Media(MediaKind.AUDIO, CODE),)


@pytest.mark.parametrize(
    ("msgtype", "content", "text"),
    [
        (
            "file",
            {"downloadCode": CODE, "fileName": "钉钉让进步发生.pdf"},
            "[文件: 钉钉让进步发生.pdf]",
        ),
        ("video", {"downloadCode": CODE, "duration": 4000, "videoType": "mp4"}, "[视频: mp4]"),
    ],
)
def test_files_and_videos_are_named_placeholders(
    msgtype: str, content: dict[str, Any], text: str
) -> None:
    """A file by its name, a video by its type: the model is told what arrived."""
    turn = parsed(msgtype, content, conversationType="1")
    assert turn.text == text
    [medium] = turn.parts
    assert isinstance(medium, Media)
    assert medium.download_code == CODE


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"downloadCode": 5}, "content.downloadCode"),
        ({"richText": [{"type": "picture", "downloadCode": "bad code"}]}, "downloadCode"),
        ({"downloadCode": "x", "fileName": 3}, "content.fileName"),
    ],
)
def test_a_malformed_media_field_is_a_400_naming_it(content: dict[str, Any], field: str) -> None:
    """Codes are tokens and names are names, checked at the door like every field."""
    with pytest.raises(InboundError) as info:
        parsed("file", content)
    assert info.value.status == 400
    assert field in info.value.message


def test_the_turn_of_a_rich_text_survives_the_journal() -> None:
    """Parts and their codes round-trip through the Turn journal's JSON."""
    turn = parsed(
        "richText", {"richText": [{"text": "看"}, {"type": "picture", "downloadCode": CODE}]}
    )
    assert Turn.from_json(turn.to_json()) == turn


@pytest.mark.parametrize("attribute", [{"msgType": "picture"}, '{"msgType":"picture"}'])
def test_an_action_about_a_picture_has_a_picture_without_a_code(attribute: object) -> None:
    """currentInput/attribute says picture: the action has no code, only the placeholder."""
    params = {"rawInput": "", "conversationToken": "ct_1", "inputAttribute": attribute}
    turn = turn_from_action(
        checked(params, ACTION, Rules()), assistant="a", source="stream_action", received_at=0.0
    )
    assert turn.parts == (Media(MediaKind.PICTURE),)
    assert turn.text == "[图片]"


def test_an_action_about_text_still_needs_its_text() -> None:
    """msgType text with an empty rawInput is as empty as before."""
    params = {"rawInput": "", "conversationToken": "ct_1", "inputAttribute": {"msgType": "text"}}
    with pytest.raises(InboundError, match="rawInput"):
        turn_from_action(params, assistant="a", source="stream_action", received_at=0.0)


def test_mentions_leave_every_piece_when_mentioned() -> None:
    """Mentioned: the assistant's name goes from every text piece; others stay put."""
    picture = Media(MediaKind.PICTURE, "c")
    pieces = strip_own_mentions_in(
        [" @Bridge Dev 看", picture, " 问 @Bridge Dev 和 @Bob "], ("Bridge Dev",), mentioned=True
    )
    assert pieces == ("看", picture, " 问 和 @Bob")


def test_without_the_flag_only_the_message_s_leading_mention_goes() -> None:
    """Not mentioned: only a mention at the very start of the first piece is taken."""
    picture = Media(MediaKind.PICTURE, "c")
    pieces = strip_own_mentions_in(
        ["@Bridge Dev ", picture, "@Bridge Dev 看"], ("Bridge Dev",), mentioned=False
    )
    assert pieces == (picture, "@Bridge Dev 看")
