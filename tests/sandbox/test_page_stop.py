"""The sandbox page's stop button: a streaming AI card is stopped as a DingTalk user would.

A real chromium drives the page: a long answer streams into an AI card whose stop
button shows ("停止"); clicking it presses the card's button as the chat's user, the
emulator calls the bridge back over Stream (§13), and the card ends with the text so far
and the stopped mark. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.emulator.control.client import EmulatorControl
from tests.sandbox.conftest import screenshot
from tests.sandbox.test_page import reply_selector, send, squeeze

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

STOPPED_MARK = "（已停止）"
"""What bridge appends to an answer the user stopped (``[notices] stopped``)."""


async def test_the_stop_button_ends_a_streaming_card(page: Any, control: EmulatorControl) -> None:
    """停止 on a streaming card: the press reaches the bridge, the card ends stopped."""
    user = await send(page, "cid-alice", "[[len=1500]] tell me a long story", path="card")
    inputting = reply_selector(user, "inputting")
    button = await page.wait_for_selector(f"{inputting} [data-stop]")
    assert await button.inner_text() == "停止"
    await page.wait_for_selector(f"{inputting} .md")
    await screenshot(page, "stop-button")
    async with page.expect_response(lambda r: r.url.endswith("/press")) as pressed:
        await page.click(f"{inputting} [data-stop]")
    press = await (await pressed.value).json()
    assert (press["route"], press["user"], press["action"]) == ("stream", "alice", "btn_stop")
    assert press["status"] == 200, press
    bubble = await page.wait_for_selector(reply_selector(user, "finished"))
    shown = await (await bubble.query_selector(".md")).inner_text()
    assert await bubble.query_selector("[data-stop]") is None
    message_id = await bubble.get_attribute("data-message-id")
    assert message_id is not None
    stored = await control.message(message_id)
    assert stored.via.startswith("card")
    assert (stored.state, stored.stop_button) == ("finished", False)
    assert stored.text.endswith(STOPPED_MARK)
    # Stopped mid-answer: the text so far, far short of the 1500 characters asked for.
    assert len(stored.text) < 1500
    assert squeeze(shown) == squeeze(stored.text)
    await screenshot(page, "stopped")
