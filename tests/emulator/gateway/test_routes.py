"""The Stream gateway over a raw WebSocket: frames, ACKs, redelivery, pings, disconnects."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from httpx2.websockets import WebSocketDisconnect

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.errors import EmulatorError
from bridge.emulator.gateway.frames import ACTION_TOPIC, BOT_TOPIC
from bridge.emulator.server import running_emulator
from tests.emulator.gateway.ws import QUIET, ack, open_gateway, receive, stream


@pytest.mark.anyio
async def test_bot_message_frame_and_ack(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """A user's message arrives as a §6.2 CALLBACK frame; its ACK is matched and recorded."""
    async with stream(http) as ws:
        said = await quiet.inbound("alice", "cid-alice", "你好")
        frame = await receive(ws)
        assert set(frame) == {"specVersion", "type", "headers", "data"}
        assert (frame["specVersion"], frame["type"]) == ("1.0", "CALLBACK")
        headers = frame["headers"]
        assert set(headers) == {
            "appId",
            "connectionId",
            "contentType",
            "messageId",
            "time",
            "topic",
        }
        assert (headers["topic"], headers["contentType"]) == (BOT_TOPIC, "application/json")
        assert isinstance(headers["time"], str)
        assert headers["time"].isdigit()
        assert isinstance(frame["data"], str)
        assert json.loads(frame["data"]) == said.chatbot_message
        assert said.delivery is not None
        assert said.delivery.how == "stream"
        assert said.delivery.frame is not None
        assert said.delivery.frame.message_id == headers["messageId"]
        await ws.send_text(ack(frame))
        [acked] = await quiet.acks(count=1)
    assert (acked.matched, acked.code, acked.frame_type, acked.error) == (
        True,
        200,
        "CALLBACK",
        None,
    )
    assert said.delivery.delivery is not None
    delivery = await quiet.delivery(said.delivery.delivery.id, "acked")
    assert (delivery.attempts, delivery.ack_code, delivery.msg_id) == (1, 200, said.message.id)


@pytest.mark.anyio
async def test_action_frame_in_the_magic_wand(
    http: httpx2.AsyncClient, quiet: EmulatorControl
) -> None:
    """A magic-wand message is an action on the graph topic, params as a JSON-string body."""
    async with stream(http) as ws:
        said = await quiet.inbound("alice", "cid-wand-alice", "写首诗")
        frame = await receive(ws)
    assert frame["headers"]["topic"] == ACTION_TOPIC
    graph = json.loads(frame["data"])
    assert graph["requestLine"] == {"method": "POST", "uri": "/v1/actions/answer"}
    assert graph["headers"] == {"content-type": "application/json"}
    assert json.loads(graph["body"]) == said.action
    assert said.delivery is not None
    assert said.delivery.door == "action"


@pytest.mark.anyio
async def test_redelivery_after_no_ack(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """Without an ACK the frame comes again: a new messageId, the same payload."""
    await quiet.set_stream_settings(QUIET.model_copy(update={"ack_timeout": 0.05}))
    async with stream(http) as ws:
        said = await quiet.inbound("alice", "cid-alice", "在吗")
        first = await receive(ws)
        second = await receive(ws)
        await ws.send_text(ack(second))
        assert said.delivery is not None
        assert said.delivery.delivery is not None
        delivery = await quiet.delivery(said.delivery.delivery.id, "acked")
    assert first["headers"]["messageId"] != second["headers"]["messageId"]
    assert first["data"] == second["data"]
    assert json.loads(second["data"])["msgId"] == said.message.id
    assert delivery.frames[:2] == [first["headers"]["messageId"], second["headers"]["messageId"]]


@pytest.mark.anyio
async def test_gives_up_after_max_redeliveries(
    http: httpx2.AsyncClient, quiet: EmulatorControl
) -> None:
    """An ignored message is sent 1 + max_redeliveries times, then given up."""
    await quiet.set_stream_settings(
        QUIET.model_copy(update={"ack_timeout": 0.02, "max_redeliveries": 2})
    )
    async with stream(http) as ws:
        said = await quiet.inbound("alice", "cid-alice", "hello?")
        assert said.delivery is not None
        assert said.delivery.delivery is not None
        delivery = await quiet.delivery(said.delivery.delivery.id, "gave_up")
        frames = [await receive(ws) for _ in range(3)]
    assert delivery.attempts == 3
    assert [f["headers"]["messageId"] for f in frames] == delivery.frames
    assert len({f["data"] for f in frames}) == 1


@pytest.mark.anyio
async def test_forced_redelivery_of_an_acked_message(
    http: httpx2.AsyncClient, quiet: EmulatorControl
) -> None:
    """The control API can send an acknowledged message again (duplicate tests)."""
    async with stream(http) as ws:
        said = await quiet.inbound("bob", "cid-group", "@bot hi")
        first = await receive(ws)
        await ws.send_text(ack(first))
        assert said.delivery is not None
        assert said.delivery.delivery is not None
        await quiet.delivery(said.delivery.delivery.id, "acked")
        forced = await quiet.redeliver(said.delivery.delivery.id)
        again = await receive(ws)
    assert again["headers"]["messageId"] == forced.message_id != first["headers"]["messageId"]
    assert again["data"] == first["data"]
    delivery = await quiet.delivery(said.delivery.delivery.id)
    assert (delivery.state, delivery.attempts) == ("acked", 2)


@pytest.mark.anyio
async def test_ping_echo_is_checked(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """A SYSTEM ping's ACK must echo its data; a matching and a wrong echo are recorded."""
    async with stream(http) as ws:
        await quiet.ping()
        ping = await receive(ws)
        assert (ping["type"], ping["headers"]["topic"]) == ("SYSTEM", "ping")
        assert set(json.loads(ping["data"])) == {"opaque"}
        await ws.send_text(ack(ping, ping["data"]))
        await quiet.ping()
        other = await receive(ws)
        await ws.send_text(ack(other, json.dumps({"opaque": "wrong"})))
        acks = await quiet.acks(count=2)
    assert [(a.frame_type, a.topic, a.echo_ok) for a in acks] == [
        ("SYSTEM", "ping", True),
        ("SYSTEM", "ping", False),
    ]


@pytest.mark.anyio
async def test_periodic_ping(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """With a ping interval set, pings come on their own."""
    await quiet.set_stream_settings(QUIET.model_copy(update={"ping_interval": 0.02}))
    async with stream(http) as ws:
        frames = [await receive(ws) for _ in range(2)]
    assert [(f["type"], f["headers"]["topic"]) for f in frames] == [("SYSTEM", "ping")] * 2


@pytest.mark.anyio
async def test_disconnect_frame_then_close(
    http: httpx2.AsyncClient, quiet: EmulatorControl
) -> None:
    """A disconnect frame says why; the gateway closes the socket after the delay."""
    async with stream(http) as ws:
        [connection] = await quiet.wait_connections(1)
        await quiet.disconnect(reason="upgrade", delay=0.01)
        frame = await receive(ws)
        assert (frame["type"], frame["headers"]["topic"]) == ("SYSTEM", "disconnect")
        assert json.loads(frame["data"]) == {"reason": "upgrade"}
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text(timeout=10)
        assert closed.value.code == 1000
    [after] = await quiet.connections()
    assert (after.id, after.close_code, after.closed_at is not None) == (connection.id, 1000, True)


@pytest.mark.anyio
async def test_random_disconnects(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """With ``disconnect_every`` set, a disconnect comes on its own."""
    await quiet.set_stream_settings(
        QUIET.model_copy(update={"disconnect_every": 0.02, "disconnect_delay": 0})
    )
    async with stream(http) as ws:
        frame = await receive(ws)
        assert frame["headers"]["topic"] == "disconnect"
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text(timeout=10)


@pytest.mark.anyio
async def test_raw_frame_injection(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """Injected text arrives verbatim; whatever comes back is recorded as an ACK attempt."""
    raw = {"type": "CALLBACK", "headers": {"messageId": "raw-1", "topic": BOT_TOPIC}, "data": {}}
    async with stream(http) as ws:
        await quiet.inject("this is not JSON")
        assert await ws.receive_text(timeout=10) == "this is not JSON"
        await ws.send_text("neither is this")
        [sent] = await quiet.inject(json.dumps(raw))
        assert sent.message_id == "raw-1"
        assert json.loads(await ws.receive_text(timeout=10)) == raw
        await ws.send_text(ack({"headers": {"messageId": "raw-1"}}, code=400))
        acks = await quiet.acks(count=2)
    assert [(a.matched, a.error) for a in acks] == [(False, "not JSON"), (True, None)]
    assert (acks[1].frame_type, acks[1].code) == ("RAW", 400)


@pytest.mark.anyio
async def test_group_mention_flag(quiet: EmulatorControl) -> None:
    """A group message names the bot in atUsers unless it does not @-mention it."""
    mentioned = await quiet.inbound("bob", "cid-group", "@bot hi")
    plain = await quiet.inbound("bob", "cid-group", "hi all", at_bot=False)
    assert mentioned.chatbot_message["isInAtList"] is True
    assert len(mentioned.chatbot_message["atUsers"]) == 1
    assert (plain.chatbot_message["isInAtList"], plain.chatbot_message["atUsers"]) == (False, [])


@pytest.mark.anyio
async def test_delivery_defaults_and_refusals(
    http: httpx2.AsyncClient, quiet: EmulatorControl
) -> None:
    """Nothing listening: not delivered; asking for Stream then is a 409; wrong doors 400."""
    said = await quiet.inbound("alice", "cid-alice", "anyone?")
    assert said.delivery is not None
    assert (said.delivery.how, said.delivery.door) == (
        "none",
        "robot",
    )
    with pytest.raises(EmulatorError) as no_stream:
        await quiet.inbound("alice", "cid-alice", "anyone?", deliver="stream")
    assert no_stream.value.status == 409
    with pytest.raises(EmulatorError) as no_robot:
        await quiet.inbound("alice", "cid-wand-alice", "hi", door="robot")
    assert no_robot.value.status == 400
    async with stream(http, topics=(BOT_TOPIC,)):
        await quiet.wait_connections(1)
        wand = await quiet.inbound("alice", "cid-wand-alice", "hi")
        assert wand.delivery is not None
        assert wand.delivery.how == "none"


@pytest.mark.anyio
async def test_events_on_the_bus(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """Connecting, sending a frame and reading its ACK are published as events."""
    async with quiet.events() as events, stream(http) as ws:
        await quiet.ping()
        ping = await receive(ws)
        await ws.send_text(ack(ping, ping["data"]))
        seen: list[str] = []
        async for event in events:
            if event.type.startswith("stream."):
                seen.append(event.type)
            if event.type == "stream.ack":
                break
    assert seen == ["stream.connected", "stream.frame", "stream.ack"]


@pytest.mark.anyio
async def test_reset_closes_sockets(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """Resetting the world closes its Stream sockets (1001) so clients reconnect."""
    async with stream(http) as ws:
        await quiet.wait_connections(1)
        await quiet.reset()
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text(timeout=10)
    assert closed.value.code == 1001


@pytest.mark.anyio
async def test_server_stops_with_open_sockets() -> None:
    """Stopping the emulator closes open Stream sockets instead of waiting on them."""
    codes: list[int] = []
    connected = anyio.Event()

    async def hold(http: httpx2.AsyncClient, base_url: str) -> None:
        opened = await open_gateway(http)
        async with http.websocket(
            opened["endpoint"],
            params={"ticket": opened["ticket"]},
            keepalive_ping_interval_seconds=None,
        ) as ws:
            connected.set()
            try:
                await ws.receive_text(timeout=30)
            except WebSocketDisconnect as exc:
                codes.append(exc.code)

    async with (
        httpx2.AsyncClient(timeout=10) as http,
        anyio.create_task_group() as tg,
        running_emulator() as running,
    ):
        http.base_url = httpx2.URL(running.base_url)
        tg.start_soon(hold, http, running.base_url)
        await connected.wait()
        await EmulatorControl(http, running.base_url).wait_connections(1)
    assert codes in ([1001], [1012])
    assert running.emulator.stream.live() == []
