"""Pictures, voice and files end to end: `bridge serve`'s wiring against the emulator.

The emulator delivers each message type as DingTalk does (§11), hands out download URLs
on its own host (§12) and records what the simulated model received, image bytes
included; the bridge fetches pictures when it answers. Everything counted, nothing timed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import RichItem
from bridge.emulator.media.samples import SAMPLES
from bridge.emulator.model.prompt import PromptMessage
from bridge.emulator.model.reply import EmissionView
from tests.serve.conftest import Served, answer_in
from tests.serve.test_serve_e2e import register_http_doors

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
NOTE = "（看不到图片）"


def media_settings(served_url: str, **more: Any) -> dict[str, Any]:
    """[media] allowing the emulator's own host, plus ``more``."""
    return {"allowed_hosts": [served_url.removeprefix("http://")], "picture_note": NOTE, **more}


def last_emission(served: Served) -> EmissionView:
    emissions = served.model.emissions()
    assert emissions, "the model was never asked"
    return emissions[-1]


def user_message(emission: EmissionView) -> PromptMessage:
    return [m for m in emission.prompt if m.role == "user"][-1]


async def downloads(served: Served) -> int:
    return len(await served.control.calls(operations=[Operation.ROBOT_FILE_DOWNLOAD.value]))


@pytest.mark.parametrize("deliver", ["stream", "http"])
async def test_a_picture_reaches_a_model_that_sees_with_the_exact_bytes(
    serve: Callable[..., Any], emulator: Any, deliver: str
) -> None:
    """Picture message → download API → the bytes the emulator served → an image part."""
    media = media_settings(emulator.base_url)
    async with serve(
        llm={"vision": True}, media=media, serve={"stream": deliver == "stream"}
    ) as served:
        if deliver == "http":
            await register_http_doors(served)
        medium = await served.control.upload_media(PNG, "image/png", name="photo.png")
        said = await served.control.inbound(
            "alice", "cid-alice", "", msgtype="picture", media_id=medium.id, deliver=deliver
        )
        answer = await answer_in(served.control, "cid-alice", said.message.created_at)
        served_count = (await served.control.medium(medium.id)).downloads
        download_calls = await downloads(served)
    [image] = user_message(last_emission(served)).images
    assert image.image_bytes() == PNG
    assert image.media_type == "image/png"
    assert served_count == 1
    assert download_calls == 1
    assert answer.state == "finished"
    assert answer.text.startswith(f"I see an image of {len(PNG)} bytes.")


async def test_a_model_that_does_not_see_gets_a_placeholder_and_the_user_one_note(
    serve: Callable[..., Any], emulator: Any
) -> None:
    """No vision: nothing is downloaded, the model reads [图片], the note comes once."""
    async with serve(media=media_settings(emulator.base_url)) as served:
        first = await served.control.inbound(
            "alice", "cid-alice", "", msgtype="picture", media_id="sample-sunset"
        )
        one = await answer_in(served.control, "cid-alice", first.message.created_at)
        second = await served.control.inbound(
            "alice", "cid-alice", "", msgtype="picture", media_id="sample-chart"
        )
        two = await answer_in(served.control, "cid-alice", second.message.created_at)
        download_calls = await downloads(served)
    assert one.text.startswith(f"{NOTE}\n\n")
    assert not two.text.startswith(NOTE)
    assert NOTE not in two.text
    asked = user_message(last_emission(served))
    assert asked.content == "[图片]"
    assert asked.images == []
    assert download_calls == 0


async def test_a_voice_message_reaches_the_model_as_its_recognized_text(
    serve: Callable[..., Any],
) -> None:
    """msgtype audio: the model gets DingTalk's recognition, as if it had been typed."""
    async with serve() as served:
        clip = await served.control.upload_media(b"#!AMR\n" + b"\x00" * 64, "audio/amr")
        said = await served.control.inbound(
            "alice", "cid-alice", "明天几点开会", msgtype="audio", media_id=clip.id
        )
        answer = await answer_in(served.control, "cid-alice", said.message.created_at)
    assert user_message(last_emission(served)).content == "明天几点开会"
    assert answer.text == "You said: 明天几点开会."


async def test_a_rich_text_keeps_its_text_and_pictures_in_order(
    serve: Callable[..., Any], emulator: Any
) -> None:
    """Text, picture, text, picture: the model gets them in that order, each image exact."""
    async with serve(llm={"vision": True}, media=media_settings(emulator.base_url)) as served:
        said = await served.control.inbound(
            "bob",
            "cid-group",
            "",
            msgtype="richText",
            rich_text=[
                RichItem(text="左边这张"),
                RichItem(media_id="sample-sunset"),
                RichItem(text="和右边这张"),
                RichItem(media_id="sample-chart"),
            ],
        )
        await answer_in(served.control, "cid-group", said.message.created_at)
    asked = user_message(last_emission(served))
    assert [(p.type, p.text) for p in asked.parts] == [
        ("text", "左边这张"),
        ("image", ""),
        ("text", "和右边这张"),
        ("image", ""),
    ]
    sunset, chart = (SAMPLES[k][1]() for k in ("sample-sunset", "sample-chart"))
    assert [p.image_bytes() for p in asked.images] == [sunset, chart]


@pytest.mark.parametrize(
    ("media", "logged"),
    [
        ({"max_bytes": 1024}, "over [media] max_bytes 1024"),
        ({"allowed_hosts": [".dingtalk.com"]}, "is not on [media] allowed_hosts"),
    ],
)
async def test_an_oversized_or_off_list_picture_becomes_a_placeholder_not_a_crash(
    serve: Callable[..., Any],
    emulator: Any,
    caplog: pytest.LogCaptureFixture,
    media: dict[str, Any],
    logged: str,
) -> None:
    """Too large, or a URL off the allow-list: [图片无法下载], a log line, an answer."""
    settings = {**media_settings(emulator.base_url), **media}
    async with serve(llm={"vision": True}, media=settings) as served:
        medium = await served.control.upload_media(PNG, "image/png")
        with caplog.at_level(logging.WARNING, logger="bridge.conversation.media"):
            said = await served.control.inbound(
                "alice", "cid-alice", "", msgtype="picture", media_id=medium.id
            )
            answer = await answer_in(served.control, "cid-alice", said.message.created_at)
        served_count = (await served.control.medium(medium.id)).downloads
    assert answer.state == "finished"
    assert user_message(last_emission(served)).content == "[图片无法下载]"
    assert served_count == (1 if "max_bytes" in logged else 0)
    [line] = [r.getMessage() for r in caplog.records if "picture not fetched" in r.getMessage()]
    assert logged in line


async def test_history_keeps_the_placeholder_never_the_bytes(
    serve: Callable[..., Any], emulator: Any
) -> None:
    """The next question's prompt holds the picture as [图片] and no image part."""
    async with serve(llm={"vision": True}, media=media_settings(emulator.base_url)) as served:
        first = await served.control.inbound(
            "alice", "cid-alice", "", msgtype="picture", media_id="sample-sunset"
        )
        await answer_in(served.control, "cid-alice", first.message.created_at)
        then = await served.control.inbound("alice", "cid-alice", "它是什么颜色？")
        await answer_in(served.control, "cid-alice", then.message.created_at)
    prompt = last_emission(served).prompt
    users = [m for m in prompt if m.role == "user"]
    assert [m.content for m in users] == ["[图片]", "它是什么颜色？"]
    assert all(not m.images for m in prompt)


async def test_files_and_videos_are_named_for_the_model(serve: Callable[..., Any]) -> None:
    """A file by its name, a video by its type; nothing is downloaded for them."""
    async with serve() as served:
        doc = await served.control.upload_media(b"%PDF-1.4", "application/pdf", name="周报.pdf")
        said = await served.control.inbound(
            "alice", "cid-alice", "", msgtype="file", media_id=doc.id
        )
        await answer_in(served.control, "cid-alice", said.message.created_at)
        movie = await served.control.upload_media(b"\x00" * 32, "video/mp4", name="clip.mp4")
        again = await served.control.inbound(
            "alice", "cid-alice", "", msgtype="video", media_id=movie.id
        )
        await answer_in(served.control, "cid-alice", again.message.created_at)
        download_calls = await downloads(served)
    users = [m.content for m in last_emission(served).prompt if m.role == "user"]
    assert users[-2:] == ["[文件: 周报.pdf]", "[视频: mp4]"]
    assert download_calls == 0


async def test_an_ai_action_about_a_picture_is_answered_with_the_note(
    serve: Callable[..., Any], emulator: Any
) -> None:
    """An action carries no code: even a model that sees gets [图片], the user the note."""
    async with serve(llm={"vision": True}, media=media_settings(emulator.base_url)) as served:
        said = await served.control.inbound(
            "alice", "cid-wand-alice", "", msgtype="picture", media_id="sample-sunset"
        )
        answer = await answer_in(served.control, "cid-wand-alice", said.message.created_at)
    assert answer.text.startswith(NOTE)
    assert user_message(last_emission(served)).content == "[图片]"
