"""DingTalkClient against the served emulator: session webhooks, cards and robot send.

Each test drives one operation of the wire contract over loopback and checks what a
chat user would see (the emulator's transcript) or the typed error the client raised.
This module covers the session webhooks (G, H), interactive cards (I, J) and robot
send (K, L); the token and the AI assistant's operations are in test_client_e2e.py.
"""

from __future__ import annotations

import logging

import pytest

from bridge.dingtalk import cards, wire
from bridge.dingtalk.client import DingTalkClient, mask_url
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.errors import PlatformRejected, SessionExpired
from tests.dingtalk.card_templates import CARD_KEY, CARD_TEMPLATE

# ---------------------------------------------------------------------- webhooks (G, H)


@pytest.mark.anyio
async def test_robot_webhook_text_and_markdown(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Text and markdown (with @) go through the robot session webhook without a token."""
    inbound = await control.inbound("bob", "cid-group", "hi")
    url = inbound.chatbot_message["sessionWebhook"]
    await client.robot_webhook(url, wire.Text("plain"))
    await client.robot_webhook(url, wire.Markdown("预览", "## md"), at=wire.At(("bob",)))
    bot = [m.text for m in await control.transcript("cid-group") if m.sender_kind == "bot"]
    assert bot == ["plain", "## md"]
    assert [c.operation for c in await control.calls()] == [
        Operation.ROBOT_WEBHOOK,
        Operation.ROBOT_WEBHOOK,
    ]


@pytest.mark.anyio
async def test_expired_robot_webhook_is_session_expired(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """After its expiry the webhook answers 200 errcode 300001: SessionExpired, no retry."""
    inbound = await control.inbound("alice", "cid-alice", "hi")
    url = inbound.chatbot_message["sessionWebhook"]
    await control.advance_clock(91 * 60)
    with pytest.raises(SessionExpired) as caught:
        await client.robot_webhook(url, wire.Text("too late"))
    assert (caught.value.status, caught.value.code) == (200, "300001")
    assert len(await control.calls()) == 1


@pytest.mark.anyio
async def test_ai_webhook_markdown_and_expiry(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """The AI session webhook shows markdown, and raises SessionExpired once expired."""
    inbound = await control.inbound("alice", "cid-alice", "hi")
    url = inbound.action["sessionWebhook"]
    await client.ai_webhook(url, "**答**")
    bot = [m.text for m in await control.transcript("cid-alice") if m.sender_kind == "bot"]
    assert bot == ["**答**"]
    await control.advance_clock(91 * 60)
    with pytest.raises(SessionExpired):
        await client.ai_webhook(url, "late")


@pytest.mark.anyio
async def test_webhook_urls_are_masked_in_logs(
    client: DingTalkClient, control: EmulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    """No log line carries the session credential of a webhook URL."""
    inbound = await control.inbound("alice", "cid-alice", "hi")
    url = inbound.chatbot_message["sessionWebhook"]
    session = url.split("session=")[1]
    with caplog.at_level(logging.DEBUG, logger="bridge.dingtalk"):
        await client.robot_webhook(url, wire.Text("x"))
    assert any("robot.sendBySession" in r.getMessage() for r in caplog.records)
    assert all(session not in r.getMessage() for r in caplog.records)
    assert mask_url(url).endswith("session=***")


# ------------------------------------------------------------------------- cards (I, J)


@pytest.mark.anyio
async def test_card_create_and_deliver_stream_and_finish(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """The Stream SDK's card flow: create+deliver, inputting, streaming, finalize, done."""
    results = await client.card_create_and_deliver(
        "track-1", CARD_TEMPLATE, cards.CardSpace.group("cid-group", client.client_id)
    )
    assert [(r.space_type, r.space_id, r.success) for r in results] == [
        ("IM_GROUP", "cid-group", True)
    ]
    await client.card_update_status("track-1", cards.FlowStatus.INPUTTING)
    await client.card_streaming("track-1", CARD_KEY, "部分")
    await client.card_streaming("track-1", CARD_KEY, "部分完整", finalize=True)
    await client.card_update_status("track-1", cards.FlowStatus.FINISHED)
    [message] = await control.transcript("cid-group")
    assert (message.text, message.state) == ("部分完整", "finished")


@pytest.mark.anyio
async def test_card_create_then_deliver_to_a_single_chat(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """create and deliver as two calls reach alice's single chat."""
    await client.card_create("track-2", CARD_TEMPLATE)
    results = await client.card_deliver("track-2", cards.CardSpace.single("alice"))
    assert [r.success for r in results] == [True]
    await client.card_streaming("track-2", CARD_KEY, "oops", error=True)
    [message] = await control.transcript("cid-alice")
    assert message.state == "failed"


@pytest.mark.anyio
async def test_card_streaming_to_unknown_card_is_rejected(client: DingTalkClient) -> None:
    """Streaming into a card that does not exist is param.stream.outTrackId."""
    with pytest.raises(PlatformRejected) as caught:
        await client.card_streaming("no-such-card", CARD_KEY, "x")
    assert caught.value.code == "param.stream.outTrackId"


@pytest.mark.anyio
async def test_card_streaming_content_too_large_is_rejected(client: DingTalkClient) -> None:
    """Content over the platform limit is param.stream.content."""
    await client.card_create("track-3", CARD_TEMPLATE)
    with pytest.raises(PlatformRejected) as caught:
        await client.card_streaming("track-3", CARD_KEY, "x" * 5000)
    assert caught.value.code == "param.stream.content"


@pytest.mark.anyio
async def test_card_streaming_guid_is_an_idempotency_key(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Repeating a streaming call with the same guid changes nothing."""
    await client.card_create_and_deliver("track-4", CARD_TEMPLATE, cards.CardSpace.single("alice"))
    await client.card_streaming("track-4", CARD_KEY, "one", guid="g-1")
    await client.card_streaming("track-4", CARD_KEY, "two", guid="g-1")
    [message] = await control.transcript("cid-alice")
    assert message.text == "one"


# --------------------------------------------------------------------- robot send (K, L)


@pytest.mark.anyio
async def test_robot_group_send(client: DingTalkClient, control: EmulatorControl) -> None:
    """groupMessages/send posts markdown into the group and returns a process key."""
    result = await client.robot_group_send("cid-group", wire.Markdown("T", "**群发**"))
    assert result.process_query_key
    assert [m.text for m in await control.transcript("cid-group")] == ["**群发**"]


@pytest.mark.anyio
async def test_robot_oto_send_reports_invalid_staff(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """oToMessages/batchSend reaches known users and lists unknown staff ids."""
    result = await client.robot_oto_send(("alice", "ghost"), wire.Text("单聊"))
    assert result.invalid_staff_ids == ("ghost",)
    assert [m.text for m in await control.transcript("cid-alice")] == ["单聊"]


@pytest.mark.anyio
async def test_robot_send_with_wrong_robot_code_is_rejected(client: DingTalkClient) -> None:
    """A robot code the app does not own is PlatformRejected invalid.param."""
    with pytest.raises(PlatformRejected) as caught:
        await client.robot_group_send("cid-group", wire.Text("x"), robot_code="other")
    assert caught.value.code == "invalid.param"
