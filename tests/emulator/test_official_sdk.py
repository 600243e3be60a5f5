"""DingTalk's official Python Stream SDK (``dingtalk-stream``) against the emulator.

The emulator is written from the wire contract, not from our client; the official SDK is a
second, independent speaker of the same protocol. If it connects, receives a bot message,
ACKs it and replies through the session webhook, the emulator's gateway, frames, ACK
matching and robot webhook are what DingTalk's own SDK expects.

The SDK blocks (``requests``) and runs its own asyncio loop, so it runs in a thread of its
own, never on the loop serving the emulator. It has no stop method: ``start()`` leaves its
reconnect loop only on ``KeyboardInterrupt``, so ``_SdkClient`` raises that from
``open_connection`` once asked to stop, and the emulator then closes the socket.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import dingtalk_stream
import pytest
from dingtalk_stream import AckMessage, ChatbotHandler, ChatbotMessage, DingTalkStreamClient

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import StreamSettingsView
from bridge.emulator.gateway.frames import BOT_TOPIC
from bridge.emulator.openapi.endpoints import ENDPOINTS, Api
from bridge.emulator.server import RunningEmulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


class _SdkClient(DingTalkStreamClient):
    """The SDK's client, with a way out of its reconnect loop and no look at the network."""

    def __init__(self) -> None:
        super().__init__(dingtalk_stream.Credential(DEFAULT_APP, DEFAULT_SECRET))
        self.stopping = threading.Event()

    def open_connection(self) -> Any:
        """Ask the gateway for a ticket, or leave ``start()`` once asked to stop."""
        if self.stopping.is_set():
            raise KeyboardInterrupt  # start()'s only exit from its loop
        return super().open_connection()

    def get_host_ip(self) -> str:
        """The SDK routes a UDP socket to 8.8.8.8 to learn its address; tests stay local."""
        return "127.0.0.1"


class _Echo(ChatbotHandler):
    """Replies to each bot message through its session webhook, as the SDK's examples do."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[Any] = []

    async def process(self, callback: Any) -> tuple[int, str]:
        """Reply with text and markdown, then let the SDK ACK with 200."""
        incoming = ChatbotMessage.from_dict(callback.data)
        said = incoming.text.content.strip()
        self.answers.append(self.reply_text(f"echo: {said}", incoming))
        self.answers.append(self.reply_markdown("echo", f"**{said}**", incoming))
        return AckMessage.STATUS_OK, "OK"


@asynccontextmanager
async def running_in_thread(
    client: _SdkClient, control: EmulatorControl
) -> AsyncIterator[threading.Thread]:
    """Run ``client.start()`` on its own loop in its own thread; stop it and join it on exit."""
    finished = anyio.Event()
    token = anyio.lowlevel.current_token()

    def run() -> None:
        try:
            asyncio.run(client.start())
        finally:
            anyio.from_thread.run_sync(finished.set, token=token)

    thread = threading.Thread(target=run, name="dingtalk-stream-sdk", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        with anyio.fail_after(20, shield=True):
            # Closing its socket sends it back to open_connection, which leaves start().
            client.stopping.set()
            if await control.connections(DEFAULT_APP, live=True):
                await control.close_connections(client_id=DEFAULT_APP)
            await finished.wait()
            await anyio.to_thread.run_sync(thread.join)


@pytest.fixture
def gateway_url(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the SDK at the emulator's gateway, and keep any proxy out of the way."""
    url = f"{emulator.base_url}{ENDPOINTS[Api.GATEWAY_OPEN].path}"
    # open_connection reads the class attribute through the class, so patch the class.
    monkeypatch.setattr(DingTalkStreamClient, "OPEN_CONNECTION_API", url)
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return url


@pytest.fixture
async def sdk(control: EmulatorControl, gateway_url: str) -> AsyncIterator[_Echo]:
    """The SDK's client with an echoing ChatbotHandler, connected; gone after the test."""
    del gateway_url
    await control.set_stream_settings(StreamSettingsView(ping_interval=None, ack_timeout=30.0))
    client, echo = _SdkClient(), _Echo()
    client.register_callback_handler(ChatbotMessage.TOPIC, echo)
    async with running_in_thread(client, control) as thread:
        await control.wait_connections(1, client_id=DEFAULT_APP)
        yield echo
    assert not thread.is_alive()


@pytest.mark.anyio
async def test_the_sdk_receives_acks_and_replies(control: EmulatorControl, sdk: _Echo) -> None:
    """The SDK gets a bot message, ACKs it and answers through the session webhook."""
    [connection] = await control.connections(DEFAULT_APP, live=True)
    assert connection.topics == [BOT_TOPIC]
    assert connection.ua.startswith("dingtalk-sdk-python/")

    said = await control.inbound("alice", "cid-alice", "hello from alice")
    dispatched = said.delivery
    assert dispatched is not None
    assert dispatched.how == "stream"
    assert dispatched.delivery is not None
    delivery = await control.delivery(dispatched.delivery.id, "acked", wait=10)
    [ack] = await control.acks(message_id=delivery.frames[0], count=1)

    assert (delivery.attempts, delivery.ack_code) == (1, 200)
    assert (ack.matched, ack.error, ack.topic, ack.code) == (True, None, BOT_TOPIC, 200)
    assert json.loads(ack.data) == {"response": "OK"}
    assert sdk.answers == [{"errcode": 0, "errmsg": "ok"}] * 2
    user, text, markdown = await control.transcript("cid-alice")
    assert (user.sender_kind, user.text) == ("user", "hello from alice")
    assert (text.sender_kind, text.state) == ("bot", "finished")
    assert text.text == "echo: hello from alice"
    assert (markdown.text, markdown.via) == ("**hello from alice**", Api.ROBOT_WEBHOOK)
    webhook_calls = await control.calls(operations=[Api.ROBOT_WEBHOOK])
    assert [c.status for c in webhook_calls] == [200, 200]
    assert webhook_calls[0].request["msgtype"] == "text"
    assert webhook_calls[0].request["at"] == {"atUserIds": ["alice"]}


@pytest.mark.anyio
async def test_the_sdk_echoes_pings_and_comes_back_after_a_disconnect(
    control: EmulatorControl, sdk: _Echo
) -> None:
    """A SYSTEM ping is echoed; after a disconnect the SDK opens the gateway again."""
    del sdk
    [ping] = await control.ping(client_id=DEFAULT_APP)
    [pong] = await control.acks(message_id=ping.message_id, count=1)
    assert (pong.code, pong.echo_ok) == (200, True)

    [first] = await control.connections(DEFAULT_APP, live=True)
    [goodbye] = await control.disconnect(client_id=DEFAULT_APP, delay=5.0)
    [acked] = await control.acks(message_id=goodbye.message_id, count=1)
    assert acked.matched
    [second] = await control.wait_connections(1, client_id=DEFAULT_APP)
    assert second.id != first.id
    assert len(await control.calls(operations=[Api.GATEWAY_OPEN])) == 2
