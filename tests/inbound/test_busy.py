"""The busy reply of the Stream door, posted through a real (emulated) sessionWebhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx2
import pytest

from bridge.config import DingTalkConfig
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.inbound.busy import webhook_notice
from bridge.inbound.payloads import turn_from_action, turn_from_bot_message
from bridge.turn import Turn, Webhook

BUSY_TEXT = "（当前提问较多，请稍后再试）"


@pytest.fixture
async def served() -> AsyncIterator[RunningEmulator]:
    async with running_emulator() as running:
        yield running


@pytest.fixture
def client(http: httpx2.AsyncClient, served: RunningEmulator) -> DingTalkClient:
    config = DingTalkConfig(api_base=served.base_url, oapi_base=served.base_url)
    return DingTalkClient(
        http, config, client_id=DEFAULT_APP, client_secret=DEFAULT_SECRET, budget=RateBudget(20)
    )


async def said(control: EmulatorControl, conversation: str) -> Turn:
    """A user speaks (delivered nowhere); the Turn bridge would read from it."""
    inbound = await control.inbound("alice", conversation, "你好", deliver="none")
    if conversation.startswith("cid-wand"):
        return turn_from_action(
            inbound.action, assistant="a", source="stream_action", received_at=0
        )
    message = inbound.chatbot_message
    return turn_from_bot_message(message, assistant="a", source="stream_bot", received_at=0)


async def bot_texts(control: EmulatorControl, conversation: str) -> list[str]:
    return [m.text for m in await control.transcript(conversation) if m.sender_kind == "bot"]


@pytest.mark.anyio
@pytest.mark.parametrize("conversation", ["cid-alice", "cid-group", "cid-wand-alice"])
async def test_the_busy_text_goes_out_through_the_webhook(
    http: httpx2.AsyncClient, served: RunningEmulator, client: DingTalkClient, conversation: str
) -> None:
    """A robot's or an AI assistant's sessionWebhook carries the busy text once."""
    control = EmulatorControl(http, served.base_url)
    turn = await said(control, conversation)
    notice = webhook_notice(client, BUSY_TEXT)
    assert await notice(turn) is True
    assert await bot_texts(control, conversation) == [BUSY_TEXT]


@pytest.mark.anyio
async def test_no_usable_webhook_means_no_notice(
    http: httpx2.AsyncClient, served: RunningEmulator, client: DingTalkClient
) -> None:
    """An expired webhook (or none) is not posted to: the door then ACKs 429."""
    control = EmulatorControl(http, served.base_url)
    turn = await said(control, "cid-alice")
    hook = turn.handles.robot_webhook
    assert hook is not None
    expired = Webhook(url=hook.url, expires_at=1.0)
    old = replace(turn, handles=replace(turn.handles, robot_webhook=expired))
    assert await webhook_notice(client, BUSY_TEXT)(old) is False
    assert await bot_texts(control, "cid-alice") == []
