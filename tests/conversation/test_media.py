"""The user's message for the model: pictures fetched for a model that sees, else a note.

The fetcher is an in-memory fake (the real one is tested in tests/dingtalk/test_media.py
and end to end in tests/serve/test_media.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from bridge.config_media import MediaConfig
from bridge.conversation.media import PICTURE_FAILED, MediaReader, noticed, text_only
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.dingtalk.media import Picture
from bridge.errors import MediaError, PlatformRejected
from bridge.llm.messages import ChatMessage, ImagePart
from bridge.turn import ConversationType, Media, MediaKind, ReplyHandles, Sender, Turn

pytestmark = pytest.mark.anyio

CONFIG = MediaConfig(picture_note="（看不到图片）")


def turn(*parts: str | Media, conversation: str = "cid-1") -> Turn:
    """A Turn of ``parts`` in ``conversation``, received by robot ``dingrobot``."""
    text = "".join(p if isinstance(p, str) else p.placeholder for p in parts)
    return Turn(
        assistant="dev",
        source="stream_bot",
        conversation_type=ConversationType.SINGLE,
        conversation_key=conversation,
        conversation_title="",
        sender=Sender(staff_id="alice", union_id=None, nick="Alice"),
        text=text,
        handles=ReplyHandles(robot_code="dingrobot"),
        received_at=0.0,
        parts=tuple(parts) if any(isinstance(p, Media) for p in parts) else (),
    )


def picture(code: str | None) -> Media:
    return Media(MediaKind.PICTURE, code)


class FakeStorage:
    """Pictures by download code; a missing code fails the way DingTalk refuses one."""

    def __init__(self, pictures: dict[str, bytes]) -> None:
        self.pictures = pictures
        self.asked: list[tuple[str, str | None]] = []

    async def fetch(self, code: str, robot: str | None) -> Picture:
        self.asked.append((code, robot))
        if code == "too-big":
            raise MediaError("the picture is over [media] max_bytes")
        if code not in self.pictures:
            raise PlatformRejected(
                "invalid downloadCode",
                operation="robot.messageFiles.download",
                status=400,
                code="invalidParameter.downloadCode",
            )
        return Picture("image/png", self.pictures[code])


async def test_a_model_that_sees_gets_the_pictures_in_their_places() -> None:
    """Text, picture, text, picture: image parts with the exact bytes, in that order."""
    storage = FakeStorage({"a": b"\x89PNG-a", "b": b"\x89PNG-b"})
    reader = MediaReader(storage.fetch, CONFIG, vision=True)
    user = await reader.user_message(turn("看", picture("a"), "和", picture("b")))
    assert user.message.parts == (
        "看",
        ImagePart("image/png", b"\x89PNG-a"),
        "和",
        ImagePart("image/png", b"\x89PNG-b"),
    )
    assert user.notice is None
    assert sorted(storage.asked) == [("a", "dingrobot"), ("b", "dingrobot")]


async def test_a_picture_that_cannot_be_fetched_becomes_a_placeholder_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused code or a too-large picture: [图片无法下载] in its place, the rest goes on."""
    storage = FakeStorage({"ok": b"\x89PNG"})
    reader = MediaReader(storage.fetch, CONFIG, vision=True)
    with caplog.at_level(logging.WARNING, logger="bridge.conversation.media"):
        user = await reader.user_message(turn(picture("gone"), picture("ok"), picture("too-big")))
    assert user.message.parts == (
        PICTURE_FAILED,
        ImagePart("image/png", b"\x89PNG"),
        PICTURE_FAILED,
    )
    logged = " | ".join(r.getMessage() for r in caplog.records)
    assert len(caplog.records) == 2
    assert "invalidParameter.downloadCode" in logged
    assert "max_bytes" in logged


async def test_only_max_pictures_are_fetched() -> None:
    """Past [media] max_pictures the pictures stay [图片]; nothing more is fetched."""
    storage = FakeStorage({c: b"\x89PNG" for c in "abc"})
    reader = MediaReader(storage.fetch, MediaConfig(max_pictures=2), vision=True)
    user = await reader.user_message(turn(picture("a"), picture("b"), picture("c")))
    assert user.message.content == "[图片][图片][图片]"
    assert sum(isinstance(p, ImagePart) for p in user.message.parts) == 2
    assert len(storage.asked) == 2


async def test_a_model_that_does_not_see_gets_placeholders_and_the_user_one_note() -> None:
    """No vision: nothing is fetched, the model reads [图片], the note comes once."""
    storage = FakeStorage({"a": b"\x89PNG"})
    reader = MediaReader(storage.fetch, CONFIG, vision=False)
    first = await reader.user_message(turn("这是什么", picture("a")))
    again = await reader.user_message(turn(picture("a")))
    elsewhere = await reader.user_message(turn(picture("a"), conversation="cid-2"))
    assert first.message == ChatMessage.user("这是什么[图片]")
    assert (first.notice, again.notice, elsewhere.notice) == (
        "（看不到图片）",
        None,
        "（看不到图片）",
    )
    assert storage.asked == []


async def test_a_picture_without_a_code_is_unseen_even_by_a_model_that_sees() -> None:
    """An AI action's picture has no code: placeholder and note, nothing fetched."""
    storage = FakeStorage({})
    reader = MediaReader(storage.fetch, CONFIG, vision=True)
    user = await reader.user_message(turn(picture(None)))
    assert user.message == ChatMessage.user("[图片]")
    assert user.notice == "（看不到图片）"


async def test_files_and_videos_are_named_and_text_is_text() -> None:
    """Non-picture media are their placeholders; a Turn without parts is its text."""
    reader = MediaReader(FakeStorage({}).fetch, CONFIG, vision=True)
    user = await reader.user_message(turn("看", Media(MediaKind.FILE, "f", "报告.pdf")))
    assert user == (await text_only(turn("看[文件: 报告.pdf]")))
    plain = replace(turn("你好"), parts=())
    assert (await reader.user_message(plain)).message == ChatMessage.user("你好")


async def test_the_note_goes_in_front_of_the_answer() -> None:
    """noticed(): the note and a blank line first, then the model's events unchanged."""
    closed = []

    @asynccontextmanager
    async def model() -> AsyncIterator[AsyncIterator[LLMEvent]]:
        async def events() -> AsyncIterator[LLMEvent]:
            yield TextDelta("答案")
            yield End("stop")

        try:
            yield events()
        finally:
            closed.append(True)

    async with noticed("（看不到图片）", model()) as events:
        seen = [event async for event in events]
    assert seen == [TextDelta("（看不到图片）\n\n"), TextDelta("答案"), End("stop")]
    assert closed == [True]
