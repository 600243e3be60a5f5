"""The sandbox page sends a picture and a voice message, as a DingTalk user would.

A real chromium drives the page: the 图片 tray (a sample, or a file from the computer)
and the 语音 button (the recognised words typed in). The simulated model sees pictures
in the sandbox and says how many bytes it received; screenshots go to test-artifacts/.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.emulator.media.samples import SAMPLES, png
from bridge.emulator.model.prompt import PromptMessage
from bridge.sandbox.runner import Sandbox
from tests.sandbox.conftest import screenshot
from tests.sandbox.test_page import finished_text, reply_selector

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

PNG = png(40, 30, lambda x, y: (6 * x, 8 * y, 160))


async def open_bot_message_path(page: Any, conversation_id: str) -> None:
    """Open the conversation and choose the robot door, which carries pictures."""
    await page.click(f'#conversations li[data-conversation="{conversation_id}"]')
    await page.wait_for_selector(f'#chat[data-conversation="{conversation_id}"]')
    await page.select_option("#path", "robot")


async def sent_id(sent: Any) -> str:
    """The id of the user message a POST /_emulator/inbound created."""
    message_id: str = (await (await sent.value).json())["message"]["id"]
    return message_id


def last_user_message(sandbox: Sandbox) -> PromptMessage:
    emission = sandbox.emulator.emulator.model.emissions()[-1]
    return [m for m in emission.prompt if m.role == "user"][-1]


async def picture_shown(page: Any, message_id: str) -> None:
    """Wait until the user's bubble shows its picture, decoded by the browser."""
    selector = f'[data-message-id="{message_id}"] img.picture'
    await page.wait_for_selector(selector)
    await page.wait_for_function(
        "s => { const i = document.querySelector(s); return i?.complete && i.naturalWidth > 0 }",
        arg=selector,
    )


async def test_a_sample_picture_is_shown_and_seen_by_the_model(page: Any, sandbox: Sandbox) -> None:
    """图片 → a sample: the chat shows the picture; the answer says the model saw its bytes."""
    await open_bot_message_path(page, "cid-alice")
    await page.click("#picture")
    await page.wait_for_selector('[data-sample="sample-sunset"] img')
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/inbound")) as sent:
        await page.click('[data-sample="sample-sunset"]')
    message_id = await sent_id(sent)
    await picture_shown(page, message_id)
    sunset = SAMPLES["sample-sunset"][1]()
    assert await finished_text(page, message_id) == f"I see an image of {len(sunset)} bytes."
    [image] = last_user_message(sandbox).images
    assert image.image_bytes() == sunset
    assert await page.is_hidden("#tray")
    await screenshot(page, "picture")


async def test_a_picture_from_the_computer_goes_with_the_words_typed(
    page: Any, sandbox: Sandbox
) -> None:
    """A chosen file with words in the box: one rich text, words then picture, both seen."""
    await open_bot_message_path(page, "cid-alice")
    await page.fill("#input", "这张图里是什么？")
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/inbound")) as sent:
        await page.set_input_files(
            "#picture-file", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": PNG}]
        )
    message_id = await sent_id(sent)
    await picture_shown(page, message_id)
    text = await finished_text(page, message_id)
    assert text == f"I see an image of {len(PNG)} bytes. You said: 这张图里是什么？."
    asked = last_user_message(sandbox)
    assert [p.type for p in asked.parts] == ["text", "image"]
    assert asked.images[0].image_bytes() == PNG
    assert await page.input_value("#input") == ""
    await screenshot(page, "picture-file")


async def test_a_voice_message_shows_its_words_and_is_answered(page: Any, sandbox: Sandbox) -> None:
    """语音 with the recognised words typed: a voice bubble, and the model gets the words."""
    await open_bot_message_path(page, "cid-alice")
    await page.click("#voice")
    assert await page.get_attribute("#composer", "data-voice") == "on"
    await page.fill("#input", "明天几点开会")
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/inbound")) as sent:
        await page.click("#send")
    message_id = await sent_id(sent)
    bubble = f'[data-message-id="{message_id}"]'
    await page.wait_for_selector(f"{bubble} [data-voice]")
    assert await page.inner_text(f"{bubble} [data-recognition]") == "明天几点开会"
    assert await finished_text(page, message_id) == "You said: 明天几点开会."
    assert last_user_message(sandbox).content == "明天几点开会"
    chip = await page.inner_text(f"{reply_selector(message_id)} .state-chip")
    assert chip == "已完成"
    await screenshot(page, "voice")
    await page.click("#voice")
    assert await page.get_attribute("#composer", "data-voice") == "off"


async def test_voice_is_off_in_a_group(page: Any) -> None:
    """DingTalk delivers no voice from a group: the button is disabled there."""
    await page.click('#conversations li[data-conversation="cid-group"]')
    await page.wait_for_selector('#chat[data-conversation="cid-group"]')
    assert await page.is_disabled("#voice")
