"""StreamClient: frames parsed, disconnects honoured, tickets asked for through DingTalkClient.

The protocol tests run the client against the emulator's gateway over loopback (the
message and ping round trips live in tests/emulator/gateway/test_bridge_client.py);
what happened is read from the emulator's event bus and call log, never from timings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence

import anyio
import httpx2
import pytest

from bridge.config import DingTalkConfig, RetryConfig
from bridge.dingtalk import host
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.wire import StreamTicket, Subscription
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import ConnectionView, StreamSettingsView
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.errors import PlatformAuthError
from bridge.inbound.stream import Frame, Reply, StreamClient, parse_frame
from bridge.inbound.stream_door import TOPICS

FAST = RetryConfig(attempts=2, backoff_initial=0.01, backoff_max=0.02, rate_limited_wait=0.02)

# ------------------------------------------------------------------------- frames (pure)


def system(topic: str, **headers: str) -> str:
    return json.dumps(
        {
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {"contentType": "application/json", "topic": topic, **headers},
            "data": json.dumps({"reason": "server is restarting"}),
        }
    )


@pytest.mark.parametrize("headers", [{}, {"messageId": ""}, {"messageId": "sys-1"}])
def test_a_system_frame_may_come_without_a_message_id(headers: dict[str, str]) -> None:
    """A SYSTEM frame parses with or without headers.messageId (empty when absent)."""
    frame = parse_frame(system("disconnect", **headers))
    assert (frame.type, frame.topic) == ("SYSTEM", "disconnect")
    assert frame.message_id == headers.get("messageId", "")


def test_a_callback_frame_needs_a_message_id() -> None:
    """A CALLBACK frame without headers.messageId cannot be ACKed, so it does not parse."""
    raw = json.dumps({"type": "CALLBACK", "headers": {"topic": TOPICS[0]}, "data": "{}"})
    with pytest.raises(ValueError, match=r"headers\.messageId"):
        parse_frame(raw)


# ------------------------------------------------------------ against the emulated gateway


@pytest.fixture
async def served() -> AsyncIterator[RunningEmulator]:
    """The default emulated world on 127.0.0.1, with no pings to interleave."""
    async with running_emulator() as running:
        yield running


@pytest.fixture
async def control(http: httpx2.AsyncClient, served: RunningEmulator) -> EmulatorControl:
    """The emulator's control API."""
    control = EmulatorControl(http, served.base_url)
    await control.set_stream_settings(StreamSettingsView(ping_interval=None, ack_timeout=30.0))
    return control


def dingtalk(
    http: httpx2.AsyncClient, served: RunningEmulator, secret: str = DEFAULT_SECRET
) -> DingTalkClient:
    """The default app's client, pointed at the emulator."""
    config = DingTalkConfig(api_base=served.base_url, oapi_base=served.base_url, retry=FAST)
    return DingTalkClient(
        http, config, client_id=DEFAULT_APP, client_secret=secret, budget=RateBudget(20)
    )


async def refuse(frame: Frame) -> Reply:
    raise AssertionError(f"no message frame was expected, got {frame}")


@pytest.mark.anyio
async def test_disconnect_without_message_id_makes_the_client_reconnect(
    http: httpx2.AsyncClient, served: RunningEmulator, control: EmulatorControl
) -> None:
    """A disconnect frame without messageId ends the socket; a new ticket opens another."""
    stream = StreamClient(
        http,
        dingtalk(http, served).open_stream,
        client_id=DEFAULT_APP,
        handler=refuse,
        topics=TOPICS,
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(stream.run)
        [first] = await control.wait_connections(1)
        closed: set[str] = set()
        opened: list[ConnectionView] = []
        async with control.events() as events:
            await control.inject(system("disconnect"))
            with anyio.fail_after(10):
                async for event in events:
                    if event.connection is None:
                        continue
                    if event.type == "stream.closed":
                        closed.add(event.connection.id)
                    elif event.type == "stream.connected":
                        opened.append(event.connection)
                    if first.id in closed and opened:
                        break
        tg.cancel_scope.cancel()
    [second] = opened
    assert second.id != first.id
    opens = await control.calls(operations=[Operation.GATEWAY_OPEN])
    assert [c.status for c in opens] == [200, 200]
    assert opens[0].response["ticket"] != opens[1].response["ticket"]
    # Not a malformed frame, and nothing to acknowledge.
    assert stream.stats.malformed == 0
    assert await control.acks() == []
    # The ticket request named bridge and this machine, as the gateway recorded it.
    assert (second.ua, second.local_ip) == (host.user_agent(), host.local_ip())
    assert second.topics == list(TOPICS)


@pytest.mark.anyio
async def test_refused_credentials_are_retried_at_the_slowest_pace(
    http: httpx2.AsyncClient,
    served: RunningEmulator,
    control: EmulatorControl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gateway refusing the secret raises PlatformAuthError; the loop waits backoff_max."""
    client = dingtalk(http, served, secret="wrong")
    refusals: list[PlatformAuthError] = []
    twice = anyio.Event()

    async def open_stream(subscriptions: Sequence[Subscription]) -> StreamTicket:
        try:
            return await client.open_stream(subscriptions)
        except PlatformAuthError as refused:
            refusals.append(refused)
            if len(refusals) == 2:
                twice.set()
            raise

    stream = StreamClient(
        http,
        open_stream,
        client_id=DEFAULT_APP,
        handler=refuse,
        topics=TOPICS,
        backoff_initial=0.001,
        backoff_max=0.05,
    )
    caplog.set_level(logging.INFO, logger="bridge.inbound.stream")
    async with anyio.create_task_group() as tg:
        tg.start_soon(stream.run)
        with anyio.fail_after(10):
            await twice.wait()
        tg.cancel_scope.cancel()
    assert [r.code for r in refusals] == ["invalidClientIdOrSecret"] * 2
    assert stream.stats.connections == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("refused the credentials" in m for m in messages)
    waits = [r.args[1] for r in caplog.records if "reconnecting in" in r.msg]
    assert waits
    assert all(0.025 <= w <= 0.05 for w in waits if isinstance(w, float))
    statuses = [c.status for c in await control.calls(operations=[Operation.GATEWAY_OPEN])]
    assert statuses[:2] == [400, 400]


# ------------------------------------------------------------ one bad frame never spreads


class Handler:
    """A frame handler that records frames and fails on demand."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.crash: Exception | None = None

    async def __call__(self, frame: Frame) -> Reply:
        if self.crash is not None:
            raise self.crash
        self.frames.append(frame)
        return Reply()


@pytest.fixture
async def streaming(
    http: httpx2.AsyncClient, served: RunningEmulator, control: EmulatorControl
) -> AsyncIterator[tuple[StreamClient, Handler]]:
    """A StreamClient with a 64 KiB frame limit, connected to the emulated gateway."""
    handler = Handler()
    stream = StreamClient(
        http,
        dingtalk(http, served).open_stream,
        client_id=DEFAULT_APP,
        handler=handler,
        topics=TOPICS,
        backoff_initial=0.01,
        backoff_max=0.05,
        max_frame_bytes=64 * 1024,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(stream.run)
        await control.wait_connections(1)
        yield stream, handler
        tg.cancel_scope.cancel()


def callback(message_id: str, data: str, topic: str = TOPICS[0]) -> str:
    headers = {"messageId": message_id, "topic": topic, "contentType": "application/json"}
    return json.dumps({"specVersion": "1.0", "type": "CALLBACK", "headers": headers, "data": data})


async def ack_of(control: EmulatorControl, message_id: str) -> tuple[int | None, str | None]:
    [ack] = await control.acks(message_id=message_id, count=1)
    return ack.code, ack.message


@pytest.mark.anyio
async def test_an_oversized_frame_is_acked_400_and_the_connection_stays(
    streaming: tuple[StreamClient, Handler], control: EmulatorControl
) -> None:
    """A 2 MiB frame (past bridge's limit, far below the socket's) is refused, not fatal."""
    stream, handler = streaming
    [connection] = await control.connections(live=True)
    big = callback("big-1", json.dumps({"text": {"content": "长" * 700_000}}))
    await control.inject(big)
    assert await ack_of(control, "big-1") == (400, "frame larger than 65536 bytes")
    await control.inject(callback("small-1", json.dumps({"text": {"content": "hi"}})))
    assert (await ack_of(control, "small-1"))[0] == 200
    assert [f.message_id for f in handler.frames] == ["small-1"]
    assert [c.id for c in await control.connections(live=True)] == [connection.id]
    assert (stream.stats.oversized, stream.stats.connections) == (1, 1)


@pytest.mark.anyio
async def test_a_handler_that_fails_unforeseen_gets_500_and_reading_goes_on(
    streaming: tuple[StreamClient, Handler],
    control: EmulatorControl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Any exception from the door is one log line and an ACK 500; the next frame is read."""
    stream, handler = streaming
    handler.crash = RuntimeError("sqlite said no")
    await control.inject(callback("bad-1", "{}"))
    assert await ack_of(control, "bad-1") == (500, "internal error")
    handler.crash = None
    await control.inject(callback("good-1", "{}"))
    assert (await ack_of(control, "good-1"))[0] == 200
    failures = [r for r in caplog.records if "sqlite said no" in r.getMessage()]
    assert len(failures) == 1
    assert "frame:bad-1" in failures[0].getMessage()
    assert (stream.stats.failed, stream.stats.connections) == (1, 1)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raw",
    [
        callback("s-1", '{"conversationId": "cid\\ud800", "text": {"content": "\\udfff"}}'),
        callback("deep-1", '{"a":' + "[" * 5000 + "]" * 5000 + "}"),
        callback("num-1", '{"sessionWebhookExpiredTime": 1e999}'),
        '{"type":"CALLBACK","headers":{"messageId":"num-2","topic":"x"},"data":1e999}',
        '{"type":"CALLBACK","headers":{"messageId":7,"topic":"x"},"data":"{}"}',
        '{"type":"CALLBACK","headers":{"messageId":"t-1","topic":["x"]},"data":"{}"}',
        "not json {",
    ],
    ids=["surrogates", "deep", "huge-number", "huge-number-outside", "id-type", "topic", "junk"],
)
async def test_garbage_frames_never_drop_the_connection(
    streaming: tuple[StreamClient, Handler], control: EmulatorControl, raw: str
) -> None:
    """Surrogates, deep nesting, absurd numbers, wrong types: answered or ignored, never fatal."""
    stream, _ = streaming
    await control.inject(raw)
    await control.inject(callback("after-1", "{}"))
    assert (await ack_of(control, "after-1"))[0] == 200
    assert stream.stats.connections == 1
    assert stream.stats.failed == 0


def test_a_message_id_with_control_characters_is_malformed() -> None:
    """A messageId with a newline would forge log lines: the frame does not parse."""
    raw = json.dumps({"type": "CALLBACK", "headers": {"messageId": "a\nb", "topic": "t"}})
    with pytest.raises(ValueError, match="control characters"):
        parse_frame(raw)
