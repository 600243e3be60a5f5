"""bridge's own StreamClient against the emulated gateway: messages, ACKs, pings, reconnects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest
from httpx2.websockets import HTTPXWSException

from bridge.config import DingTalkConfig
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import StreamSettingsView
from bridge.emulator.gateway.frames import ACTION_TOPIC, BOT_TOPIC
from bridge.emulator.server import RunningEmulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.errors import InboundError
from bridge.inbound.stream import Frame, Reply, StreamClient


class Recorder:
    """A tiny frame handler: keeps every frame and ACKs it as bridge does."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    async def __call__(self, frame: Frame) -> Reply:
        data = json.loads(frame.data)
        if not isinstance(data, dict):
            raise InboundError("frame data must be a JSON object", status=400)
        self.frames.append(frame)
        return Reply()


def gateway(http: httpx2.AsyncClient, emulator: RunningEmulator) -> DingTalkClient:
    """The default app's DingTalk client, whose open_stream asks the gateway for tickets."""
    config = DingTalkConfig(api_base=emulator.base_url, oapi_base=emulator.base_url)
    return DingTalkClient(
        http, config, client_id=DEFAULT_APP, client_secret=DEFAULT_SECRET, budget=RateBudget(20)
    )


@pytest.fixture
async def client(
    emulator: RunningEmulator, control: EmulatorControl
) -> AsyncIterator[tuple[StreamClient, Recorder]]:
    """A running StreamClient of the default app, connected once the test starts."""
    await control.set_stream_settings(StreamSettingsView(ping_interval=None, ack_timeout=30.0))
    recorder = Recorder()
    async with httpx2.AsyncClient(timeout=10) as http, anyio.create_task_group() as tg:
        stream = StreamClient(
            http,
            gateway(http, emulator).open_stream,
            client_id=DEFAULT_APP,
            handler=recorder,
            topics=(BOT_TOPIC, ACTION_TOPIC),
            backoff_initial=0.01,
            backoff_max=0.05,
        )
        tg.start_soon(stream.run)
        await control.wait_connections(1)
        yield stream, recorder
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_receives_and_acks_a_bot_message_and_an_action(
    client: tuple[StreamClient, Recorder], control: EmulatorControl
) -> None:
    """A robot message and a magic-wand action both arrive and are acknowledged with 200."""
    _, recorder = client
    robot = await control.inbound("alice", "cid-alice", "hi")
    action = await control.inbound("alice", "cid-wand-alice", "hello")
    for said in (robot, action):
        assert said.delivery is not None
        assert said.delivery.delivery is not None
        await control.delivery(said.delivery.delivery.id, "acked")
    assert [f.topic for f in recorder.frames] == [BOT_TOPIC, ACTION_TOPIC]
    assert json.loads(recorder.frames[0].data)["msgId"] == robot.message.id
    graph = json.loads(recorder.frames[1].data)
    assert json.loads(graph["body"])["rawInput"] == "hello"
    acks = await control.acks()
    assert [(a.topic, a.code, a.matched, a.error) for a in acks] == [
        (BOT_TOPIC, 200, True, None),
        (ACTION_TOPIC, 200, True, None),
    ]


@pytest.mark.anyio
async def test_echoes_pings(
    client: tuple[StreamClient, Recorder], control: EmulatorControl
) -> None:
    """The client's ACK of a ping echoes its data."""
    [ping] = await control.ping()
    [acked] = await control.acks(message_id=ping.message_id, count=1)
    assert (acked.echo_ok, acked.code) == (True, 200)


@pytest.mark.anyio
async def test_reconnects_after_disconnect_with_a_fresh_ticket(
    client: tuple[StreamClient, Recorder], control: EmulatorControl
) -> None:
    """After a disconnect frame the client opens the gateway again and reconnects."""
    stream, recorder = client
    [first] = await control.connections(live=True)
    await control.disconnect(delay=5.0)
    # The client leaves at once (without waiting for the gateway to close the socket).
    [second] = await control.wait_connections(1)
    assert second.id != first.id
    opens = await control.calls(operations=[Operation.GATEWAY_OPEN])
    assert [c.status for c in opens] == [200, 200]
    assert opens[0].response["ticket"] != opens[1].response["ticket"]
    said = await control.inbound("alice", "cid-alice", "still there?")
    assert said.delivery is not None
    assert said.delivery.frame is not None
    assert said.delivery.frame.connection_id == second.id
    assert said.delivery.delivery is not None
    await control.delivery(said.delivery.delivery.id, "acked")
    assert (len(recorder.frames), stream.stats.connections) == (1, 2)


@pytest.mark.anyio
async def test_reconnects_after_a_dropped_socket(
    emulator: RunningEmulator, control: EmulatorControl
) -> None:
    """A socket dropped without a disconnect frame is reopened with a fresh ticket."""
    await control.set_stream_settings(StreamSettingsView(ping_interval=None))
    reconnected = False
    async with httpx2.AsyncClient(timeout=10) as http:
        stream = StreamClient(
            http,
            gateway(http, emulator).open_stream,
            client_id=DEFAULT_APP,
            handler=Recorder(),
            topics=(BOT_TOPIC, ACTION_TOPIC),
            backoff_initial=0.01,
            backoff_max=0.05,
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stream.run)
                [first] = await control.wait_connections(1)
                await control.close_connections(code=1011)
                [second] = await control.wait_connections(1)
                reconnected = second.id != first.id
                tg.cancel_scope.cancel()
        except* HTTPXWSException as crashed:
            pytest.fail(f"StreamClient.run crashed: {crashed.exceptions!r}")
    assert reconnected
    assert len(await control.calls(operations=[Operation.GATEWAY_OPEN])) == 2


@pytest.mark.anyio
async def test_malformed_frames_get_400_or_nothing(
    client: tuple[StreamClient, Recorder], control: EmulatorControl
) -> None:
    """Data that is not a string is refused with 400; text without a messageId gets no ACK."""
    stream, recorder = client
    bad = {
        "specVersion": "1.0",
        "type": "CALLBACK",
        "headers": {"messageId": "bad-1", "topic": BOT_TOPIC},
        "data": {"not": "a string"},
    }
    await control.inject("not JSON at all")
    await control.inject(json.dumps(bad))
    [answer] = await control.acks(count=1)
    assert (answer.message_id, answer.code, answer.matched) == ("bad-1", 400, True)
    # The socket survived both: a ping still gets its echo, and it is the next ACK.
    [ping] = await control.ping()
    acks = await control.acks(count=2)
    assert [a.message_id for a in acks] == ["bad-1", ping.message_id]
    assert (stream.stats.malformed, recorder.frames) == (2, [])
