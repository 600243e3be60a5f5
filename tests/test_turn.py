"""Turn: its JSON form round-trips exactly, and anything else is refused."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.turn import (
    SOURCES,
    ConversationType,
    Media,
    MediaKind,
    ReplyHandles,
    Sender,
    Turn,
    Webhook,
    text_of,
)

# Any text a platform could send, lone surrogates included (json.loads makes them).
text = st.text(st.characters(codec=None))
optional_text = st.none() | text
finite = st.floats(allow_nan=False, allow_infinity=False)
webhooks = st.none() | st.builds(Webhook, url=text, expires_at=st.none() | finite)
turns = st.builds(
    Turn,
    assistant=text,
    source=st.sampled_from(SOURCES),
    conversation_type=st.sampled_from(ConversationType),
    conversation_key=text,
    conversation_title=text,
    sender=st.builds(Sender, staff_id=optional_text, union_id=optional_text, nick=text),
    text=text,
    handles=st.builds(
        ReplyHandles,
        conversation_token=optional_text,
        robot_webhook=webhooks,
        ai_webhook=webhooks,
        union_id=optional_text,
        open_conversation_id=optional_text,
        conversation_id=optional_text,
        staff_id=optional_text,
        robot_code=optional_text,
    ),
    received_at=finite,
    delivery_ids=st.lists(text, max_size=4).map(tuple),
    parts=st.lists(
        text
        | st.builds(Media, kind=st.sampled_from(MediaKind), download_code=optional_text, name=text),
        max_size=4,
    ).map(tuple),
)


@given(turns)
def test_json_round_trip_is_exact(turn: Turn) -> None:
    """from_json(to_json(turn)) == turn, for every string and every finite float."""
    assert Turn.from_json(turn.to_json()) == turn


@given(turns)
def test_json_is_ascii(turn: Turn) -> None:
    """The JSON is plain ASCII, so any store can keep it as text (surrogates escaped)."""
    assert turn.to_json().isascii()


def sample() -> Turn:
    return Turn(
        assistant="helpdesk",
        source="stream_action",
        conversation_type=ConversationType.GROUP,
        conversation_key="cid-1",
        conversation_title="研发群",
        sender=Sender(staff_id="u1", union_id=None, nick="小明"),
        text="你好",
        handles=ReplyHandles(
            conversation_token="ct",
            ai_webhook=Webhook("https://oapi.dingtalk.com/x", expires_at=1.5),
        ),
        received_at=12.25,
        delivery_ids=("msg:1",),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(v=2), "version 2"),
        (lambda d: d.update(source="carrier_pigeon"), "unknown source"),
        (lambda d: d.update(text=None), "turn.text must be a str"),
        (lambda d: d["sender"].update(nick=3), "turn.sender.nick must be a str"),
        (lambda d: d.update(received_at=True), "turn.received_at must be a number"),
        (lambda d: d.update(delivery_ids=[1]), "delivery_ids must be strings"),
        (lambda d: d["handles"].update(ai_webhook="x"), "must be a dict"),
        (lambda d: d.update(parts=[{"kind": "hologram", "name": ""}]), "unknown kind"),
        (lambda d: d.update(parts=[{"text": 1}]), r"turn.parts\[\].text must be a str"),
    ],
)
def test_from_json_refuses_what_to_json_never_writes(change: object, message: str) -> None:
    """A changed or foreign entry is a ValueError naming the field, never a wrong Turn."""
    data = json.loads(sample().to_json())
    change(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Turn.from_json(json.dumps(data))


def test_from_json_refuses_text_that_is_not_json() -> None:
    """Garbage is a ValueError, not a JSONDecodeError the caller must know about."""
    with pytest.raises(ValueError, match="not JSON"):
        Turn.from_json("{half")


def test_an_entry_written_before_parts_existed_reads_as_a_turn_without_parts() -> None:
    """Version 1 entries journaled before media support load unchanged, with no parts."""
    data = json.loads(sample().to_json())
    del data["parts"]
    assert Turn.from_json(json.dumps(data)) == sample()


def test_text_of_puts_placeholders_where_the_media_were() -> None:
    """A rich text reads as its text with a placeholder naming each medium in place."""
    parts = (
        "看这个",
        Media(MediaKind.PICTURE, "code-1"),
        "和",
        Media(MediaKind.FILE, "code-2", "报告.pdf"),
        Media(MediaKind.VIDEO, "code-3", "mp4"),
    )
    assert text_of(parts) == "看这个[图片]和[文件: 报告.pdf][视频: mp4]"


def test_pictures_are_the_picture_parts_in_order() -> None:
    """Turn.pictures lists only the pictures, in the order the message had them."""
    first, second = Media(MediaKind.PICTURE, "a"), Media(MediaKind.PICTURE, "b")
    turn = replace(sample(), parts=("x", first, Media(MediaKind.FILE), second))
    assert turn.pictures == (first, second)
