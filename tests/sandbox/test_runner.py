"""running_sandbox: the emulator and a production Bridge wired to it over Stream mode."""

from __future__ import annotations

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from bridge.emulator.model.script import ModelScript
from bridge.emulator.world.transcript import MessageState
from bridge.sandbox.runner import Sandbox, running_sandbox
from bridge.sandbox.wiring import CARD_APP

pytestmark = pytest.mark.anyio


async def answer_to(
    control: EmulatorControl, user_message: MessageView, conversation_id: str
) -> MessageView:
    """Wait (on the event bus) until the bot's reply after ``user_message`` is final."""
    async with control.events() as events:
        for message in await control.transcript(conversation_id):
            if _is_final_reply(message, user_message):
                return message
        async for event in events:
            if event.message is not None and _is_final_reply(event.message, user_message):
                return event.message
    raise AssertionError("the event stream ended before the reply was final")


def _is_final_reply(message: MessageView, user_message: MessageView) -> bool:
    return (
        message.conversation_id == user_message.conversation_id
        and message.sender_kind == "bot"
        and message.created_at >= user_message.created_at
        and message.state in ("finished", "failed")
    )


async def test_serves_the_page_and_its_files(sandbox: Sandbox) -> None:
    """GET / is the chat page; its scripts and styles are served from /static."""
    async with httpx2.AsyncClient(base_url=sandbox.emulator.base_url) as http:
        index = await http.get("/")
        assert index.status_code == 200
        assert "bridge sandbox" in index.text
        for name in ("state.js", "markdown.js", "chat.js", "panel.js", "app.js", "style.css"):
            assert f"/static/{name}" in index.text
            assert (await http.get(f"/static/{name}")).status_code == 200
        assert (await http.get("/static/nope.js")).status_code == 404


async def test_both_apps_connect_over_stream(sandbox: Sandbox) -> None:
    """The bridge holds one live Stream connection per sandbox app."""
    async with httpx2.AsyncClient(base_url=sandbox.emulator.base_url, timeout=20) as http:
        response = await http.get(
            "/_emulator/stream/connections", params={"live": "true", "min": 2, "wait": 10}
        )
    live = sorted(c["client_id"] for c in response.json()["connections"])
    assert live == sorted(["dingbridge-dev", CARD_APP])
    assert sandbox.model.simulated


async def test_a_message_is_answered_through_stream_mode(
    sandbox: Sandbox, control: EmulatorControl
) -> None:
    """An inbound delivered over Stream gets the model's exact text, via aiInteraction."""
    sandbox.emulator.emulator.model.define("runner-hello", ModelScript(text="你好，我在这里。"))
    said = await control.inbound("alice", "cid-alice", "[[script=runner-hello]] 在吗")
    reply = await answer_to(control, said.message, "cid-alice")
    assert (reply.state, reply.text) == ("finished", "你好，我在这里。")
    assert reply.via.startswith("aiInteraction")


async def test_leaving_the_block_closes_everything() -> None:
    """After the block no message is left open and the server no longer answers."""
    async with running_sandbox(env={}) as running:
        url = running.emulator.base_url
        world = running.emulator.emulator
    assert world.transcript.in_states([MessageState.PREPARING, MessageState.INPUTTING]) == []
    async with httpx2.AsyncClient() as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get(url)
