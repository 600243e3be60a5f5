"""The emulator's media: every message type as §11 shows it, the download API (§12), and
the storage host serving the bytes at the URL it hands out."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import RichItem
from bridge.emulator.errors import EmulatorError
from bridge.emulator.media.library import CODE_LIFETIME
from bridge.emulator.media.samples import SAMPLES
from bridge.emulator.server import RunningEmulator
from bridge.emulator.state import DEFAULT_APP

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
DOWNLOAD = "/v1.0/robot/messageFiles/download"


async def download(http: httpx2.AsyncClient, auth: dict[str, str], **body: Any) -> httpx2.Response:
    return await http.post(DOWNLOAD, json=body, headers=auth)


async def test_uploaded_media_are_listed_after_the_samples(control: EmulatorControl) -> None:
    """An upload keeps its bytes, type and name; the built-in samples come first."""
    uploaded = await control.upload_media(PNG, "image/png", name="照片.png")
    media = await control.media()
    assert [m.id for m in media[: len(SAMPLES)]] == list(SAMPLES)
    assert all(m.sample and m.content_type == "image/png" for m in media[: len(SAMPLES)])
    assert media[-1] == uploaded
    assert (uploaded.name, uploaded.size) == ("照片.png", len(PNG))
    assert uploaded.sha256 == hashlib.sha256(PNG).hexdigest()


async def test_a_picture_message_carries_a_download_code_that_yields_the_bytes(
    control: EmulatorControl, http: httpx2.AsyncClient, auth: dict[str, str]
) -> None:
    """§11 picture → §12 download URL → the exact bytes, from the emulator's own host."""
    medium = await control.upload_media(PNG, "image/png", name="p.png")
    said = await control.inbound("alice", "cid-alice", "", msgtype="picture", media_id=medium.id)
    message = said.chatbot_message
    assert message["msgtype"] == "picture"
    assert "text" not in message
    code = message["content"]["downloadCode"]
    answer = await download(http, auth, downloadCode=code, robotCode=DEFAULT_APP)
    assert answer.status_code == 200
    url = answer.json()["downloadUrl"]
    assert urlsplit(url).netloc == urlsplit(str(http.base_url)).netloc
    assert {"Expires", "Signature"} <= set(httpx2.URL(url).params)
    async with httpx2.AsyncClient() as bare:
        got = await bare.get(url)
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert (await control.medium(medium.id)).downloads == 1
    assert said.message.text == "[图片]"
    assert said.message.msgtype == "picture"
    assert said.message.pieces[0].media_id == medium.id


async def test_a_download_url_refuses_a_content_type_and_expires(
    control: EmulatorControl, http: httpx2.AsyncClient, auth: dict[str, str]
) -> None:
    """Like the storage host peers met: an added Content-Type breaks the signature (403)."""
    said = await control.inbound(
        "alice", "cid-alice", "", msgtype="picture", media_id="sample-sunset"
    )
    code = said.chatbot_message["content"]["downloadCode"]
    url = (await download(http, auth, downloadCode=code, robotCode=DEFAULT_APP)).json()[
        "downloadUrl"
    ]
    async with httpx2.AsyncClient() as bare:
        typed = await bare.get(url, headers={"Content-Type": "image/png"})
        forged = await bare.get(url.replace("Signature=", "Signature=x"))
        await control.advance_clock(CODE_LIFETIME + 1)
        late = await bare.get(url)
    assert (typed.status_code, forged.status_code, late.status_code) == (403, 403, 403)
    assert b"<Code>SignatureDoesNotMatch</Code>" in typed.content
    assert b"<Code>AccessDenied</Code>" in late.content
    expired = await download(http, auth, downloadCode=code, robotCode=DEFAULT_APP)
    assert expired.json()["code"] == "invalidParameter.downloadCode"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"downloadCode": "x"}, "invalidParameter.robotCode.empty"),
        ({"downloadCode": "", "robotCode": DEFAULT_APP}, "invalidParameter.robotCode.empty"),
        ({"downloadCode": "x", "robotCode": "someone-else"}, "invalidParameter.robotCode.auth"),
        ({"downloadCode": "nope", "robotCode": DEFAULT_APP}, "invalidParameter.downloadCode"),
    ],
)
async def test_the_download_api_refuses_as_the_platform_does(
    http: httpx2.AsyncClient, auth: dict[str, str], body: dict[str, str], code: str
) -> None:
    """Empty fields, another robot's code, an unknown code: 400 with §12's codes."""
    answer = await download(http, auth, **body)
    assert answer.status_code == 400
    assert answer.json()["code"] == code


async def test_a_code_given_to_one_robot_is_refused_to_another(
    control: EmulatorControl, http: httpx2.AsyncClient
) -> None:
    """The code belongs to the robot that received the message."""
    await control.register_app("other-bot", "s", kind="robot")
    said = await control.inbound(
        "alice", "cid-alice", "", msgtype="picture", media_id="sample-chart"
    )
    token = (
        await http.post("/v1.0/oauth2/accessToken", json={"appKey": "other-bot", "appSecret": "s"})
    ).json()["accessToken"]
    answer = await download(
        http,
        {"x-acs-dingtalk-access-token": token},
        downloadCode=said.chatbot_message["content"]["downloadCode"],
        robotCode="other-bot",
    )
    assert answer.json()["code"] == "invalidParameter.robotCode.auth"


async def test_every_message_type_has_the_contract_s_shape(control: EmulatorControl) -> None:
    """audio, video and file carry §11's fields; the chat shows each as DingTalk would."""
    clip = await control.upload_media(b"\x00" * 64, "audio/amr", name="voice.amr")
    movie = await control.upload_media(b"\x00" * 64, "video/mp4", name="clip.MP4")
    doc = await control.upload_media(b"%PDF-1.4", "application/pdf", name="钉钉让进步发生.pdf")
    audio = await control.inbound(
        "alice", "cid-alice", "钉钉，让进步发生", msgtype="audio", media_id=clip.id
    )
    video = await control.inbound(
        "alice", "cid-alice", "", msgtype="video", media_id=movie.id, duration_ms=2500
    )
    file = await control.inbound("alice", "cid-alice", "", msgtype="file", media_id=doc.id)
    assert audio.chatbot_message["content"] == {
        "downloadCode": audio.chatbot_message["content"]["downloadCode"],
        "duration": 4000,
        "recognition": "钉钉，让进步发生",
    }
    assert video.chatbot_message["content"]["videoType"] == "mp4"
    assert video.chatbot_message["content"]["duration"] == 2500
    assert file.chatbot_message["content"]["fileName"] == "钉钉让进步发生.pdf"
    assert [m.message.text for m in (audio, video, file)] == [
        "[语音] 钉钉，让进步发生",
        "[视频]",
        "[文件] 钉钉让进步发生.pdf",
    ]
    assert audio.action["rawInput"] == "钉钉，让进步发生"
    assert file.action["inputAttribute"] == '{"msgType": "file"}'


async def test_a_rich_text_in_the_group_keeps_its_order_and_loses_the_bot_s_name(
    control: EmulatorControl,
) -> None:
    """The @ picker's mention leads the first text; the robot's copy has it removed."""
    said = await control.inbound(
        "bob",
        "cid-group",
        "",
        msgtype="richText",
        rich_text=[
            RichItem(text="看这张"),
            RichItem(media_id="sample-sunset"),
            RichItem(text="和这张"),
            RichItem(media_id="sample-chart"),
        ],
        deliver="none",
    )
    items = said.chatbot_message["content"]["richText"]
    assert [i.get("text", i.get("type")) for i in items] == [
        " 看这张",
        "picture",
        "和这张",
        "picture",
    ]
    assert items[1]["downloadCode"] == items[1]["pictureDownloadCode"]
    assert items[1]["downloadCode"] != items[3]["downloadCode"]
    assert said.message.text == "@Bridge Dev 看这张[图片]和这张[图片]"
    assert said.action["rawInput"] == "@Bridge Dev 看这张和这张"


async def test_a_picture_action_carries_no_code_only_the_attribute(
    control: EmulatorControl,
) -> None:
    """An AI action has no downloadCode: rawInput is empty, inputAttribute says picture."""
    said = await control.inbound(
        "alice", "cid-wand-alice", "", msgtype="picture", media_id="sample-sunset"
    )
    assert said.action["rawInput"] == ""
    assert said.action["inputAttribute"] == '{"msgType": "picture"}'


@pytest.mark.parametrize("msgtype", ["audio", "video", "file"])
async def test_a_group_delivers_no_voice_video_or_file(
    control: EmulatorControl, msgtype: str
) -> None:
    """§11: a group @robot gets no audio, video or file; the control API refuses them."""
    with pytest.raises(EmulatorError, match=f"no {msgtype} message from a group"):
        await control.inbound(
            "bob",
            "cid-group",
            "x",
            msgtype=msgtype,
            media_id="sample-sunset",  # type: ignore[arg-type]
        )


async def test_an_unknown_medium_or_a_missing_one_is_refused(control: EmulatorControl) -> None:
    """A media id must exist; a picture message needs one; a rich text needs items."""
    with pytest.raises(EmulatorError, match="unknown medium"):
        await control.inbound("alice", "cid-alice", "", msgtype="picture", media_id="nope")
    with pytest.raises(EmulatorError, match="needs a media_id"):
        await control.inbound("alice", "cid-alice", "", msgtype="picture")
    with pytest.raises(EmulatorError, match="needs rich_text"):
        await control.inbound("alice", "cid-alice", "", msgtype="richText")


async def test_the_page_gets_the_bytes_without_a_signature(
    emulator: RunningEmulator, http: httpx2.AsyncClient
) -> None:
    """GET /_emulator/media/{id}/content serves a sample for the chat page's <img>."""
    answer = await http.get("/_emulator/media/sample-checkerboard/content")
    assert answer.status_code == 200
    assert answer.content == SAMPLES["sample-checkerboard"][1]()
    assert (await http.get("/_emulator/media/nope/content")).status_code == 404
