"""Signed HTTP callbacks: what the poster sends, and bridge's HTTP doors refusing the bad ones."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.admission import ACCEPTED, Admission
from bridge.dingtalk.signature import verify
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import CallbackVariant
from bridge.emulator.errors import EmulatorError
from bridge.emulator.server import RunningEmulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.emulator.webhooks.poster import OVERSIZE_BYTES
from bridge.errors import InboundError
from bridge.inbound.http import AssistantDoor, create_http_app
from bridge.serving import running_server
from bridge.turn import Turn

ACTION_TOKEN = "action-token-123"


def recording(turns: list[Turn]) -> Callable[[Turn], Awaitable[Admission]]:
    """A pipeline stand-in that takes every Turn and keeps it."""

    async def accept(turn: Turn) -> Admission:
        turns.append(turn)
        return ACCEPTED

    return accept


@dataclass
class Received:
    """One request the test receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server that keeps every request and answers 200."""

    url: str
    requests: list[Received] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A recording receiver on 127.0.0.1 with an ephemeral port."""
    received: list[Received] = []

    async def keep(request: Request) -> Response:
        received.append(Received(request.url.path, dict(request.headers), await request.body()))
        return JSONResponse({"msgtype": "empty"})

    app = Starlette(routes=[Route("/{door}", keep, methods=["POST"])])
    async with running_server(app) as url:
        yield Receiver(url, received)


@pytest.fixture
async def registered(control: EmulatorControl, receiver: Receiver) -> Receiver:
    """The default app's callbacks point at the receiver."""
    await control.register_callbacks(
        DEFAULT_APP,
        robot_url=f"{receiver.url}/robot",
        action_url=f"{receiver.url}/action",
        action_token=ACTION_TOKEN,
    )
    return receiver


def ms_now() -> int:
    """Real epoch milliseconds (the emulated clock is real time unless advanced)."""
    return int(time.time() * 1000)


@pytest.mark.anyio
async def test_robot_callback_is_signed(control: EmulatorControl, registered: Receiver) -> None:
    """The robot callback carries the ChatbotMessage, a timestamp and a valid sign."""
    said = await control.inbound("alice", "cid-alice", "你好")
    assert said.delivery is not None
    assert said.delivery.how == "http"
    assert said.delivery.callback is not None
    assert said.delivery.callback.status == 200
    [request] = registered.requests
    assert request.path == "/robot"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    verify(request.headers["timestamp"], request.headers["sign"], DEFAULT_SECRET, now_ms=ms_now())
    assert json.loads(request.body) == said.chatbot_message
    [logged] = await control.callbacks()
    assert (logged.door, logged.variant, logged.status) == ("robot", "ok", 200)
    assert logged.response == {"msgtype": "empty"}


@pytest.mark.anyio
async def test_action_callback_carries_the_bearer_token(
    control: EmulatorControl, registered: Receiver
) -> None:
    """A magic-wand message goes to the action URL with the registered bearer token."""
    said = await control.inbound("alice", "cid-wand-alice", "写首诗")
    assert said.delivery is not None
    assert said.delivery.door == "action"
    [request] = registered.requests
    assert request.path == "/action"
    assert request.headers["authorization"] == f"Bearer {ACTION_TOKEN}"
    assert json.loads(request.body) == said.action


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("variant", "why"),
    [
        ("bad_signature", "bad signature"),
        ("stale", "timestamp is outside the accepted window"),
        ("unsigned", "missing timestamp or sign header"),
    ],
)
async def test_bad_signatures_are_really_bad(
    control: EmulatorControl, registered: Receiver, variant: CallbackVariant, why: str
) -> None:
    """Each spoiled signature variant fails verification for its own reason."""
    await control.inbound("alice", "cid-alice", "hi", variant=variant)
    [request] = registered.requests
    with pytest.raises(InboundError) as refused:
        verify(
            request.headers.get("timestamp"),
            request.headers.get("sign"),
            DEFAULT_SECRET,
            now_ms=ms_now(),
        )
    assert refused.value.message == why


@pytest.mark.anyio
async def test_bad_bodies_are_really_bad(control: EmulatorControl, registered: Receiver) -> None:
    """Malformed is not JSON, oversize is past the limit, off-host names another host."""
    for variant in ("malformed", "oversize", "off_host"):
        await control.inbound("alice", "cid-alice", "hi", variant=variant)
    malformed, oversize, off_host = registered.requests
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        json.loads(malformed.body)
    assert len(oversize.body) > OVERSIZE_BYTES
    webhook = json.loads(off_host.body)["sessionWebhook"]
    assert webhook.startswith("https://off-host.invalid/robot/sendBySession?session=")
    for request in registered.requests:  # every one of them correctly signed
        verify(
            request.headers["timestamp"], request.headers["sign"], DEFAULT_SECRET, now_ms=ms_now()
        )


@pytest.mark.anyio
async def test_raw_callback(control: EmulatorControl, registered: Receiver) -> None:
    """Arbitrary text and headers reach a registered URL; ``signed`` adds valid headers."""
    logged = await control.post_raw_callback("[1, 2]", headers={"X-Test": "yes"}, signed=True)
    [request] = registered.requests
    assert (request.body, request.headers["x-test"]) == (b"[1, 2]", "yes")
    verify(request.headers["timestamp"], request.headers["sign"], DEFAULT_SECRET, now_ms=ms_now())
    assert (logged.variant, logged.status, logged.body_bytes) == ("raw", 200, 6)


@pytest.mark.anyio
async def test_callback_refusals(control: EmulatorControl, receiver: Receiver) -> None:
    """Asking for HTTP without a URL is a 409; a stale action (no timestamp) a 400."""
    with pytest.raises(EmulatorError) as no_url:
        await control.inbound("alice", "cid-alice", "hi", deliver="http")
    assert no_url.value.status == 409
    await control.register_callbacks(DEFAULT_APP, action_url=f"{receiver.url}/action")
    with pytest.raises(EmulatorError) as stale:
        await control.inbound("alice", "cid-wand-alice", "hi", variant="stale")
    assert stale.value.status == 400
    registration = await control.callback_registration(DEFAULT_APP)
    assert (registration.robot_url, registration.action_token_set) == (None, False)


@pytest.mark.anyio
async def test_unreachable_receiver_is_recorded(control: EmulatorControl) -> None:
    """A receiver that is not listening is an answer too: no status, and why."""
    await control.register_callbacks(DEFAULT_APP, robot_url="http://127.0.0.1:9/robot")
    said = await control.inbound("alice", "cid-alice", "hi")
    assert said.delivery is not None
    assert said.delivery.callback is not None
    assert said.delivery.callback.status is None
    assert said.delivery.callback.error


@pytest.fixture
async def doors(control: EmulatorControl, emulator: RunningEmulator) -> AsyncIterator[list[Turn]]:
    """bridge's own HTTP doors (assistant ``dev``), registered as the app's callbacks."""
    submitted: list[Turn] = []

    def health() -> dict[str, Any]:
        return {}

    app = create_http_app(
        assistants={"dev": AssistantDoor("dev", DEFAULT_SECRET, ACTION_TOKEN)},
        accept=recording(submitted),
        push=None,
        push_token=None,
        # The emulator's webhooks carry its port: allow-listed as host:port.
        reply_hosts=(emulator.base_url.removeprefix("http://"),),
        health=health,
    )
    async with running_server(app) as url:
        await control.register_callbacks(
            DEFAULT_APP,
            robot_url=f"{url}/dingtalk/dev/robot",
            action_url=f"{url}/dingtalk/dev/action",
            action_token=ACTION_TOKEN,
        )
        yield submitted


@pytest.mark.anyio
async def test_bridge_doors_accept_good_and_refuse_bad_callbacks(
    control: EmulatorControl, doors: list[Turn]
) -> None:
    """End to end: bridge's doors take the good callbacks and refuse each bad variant."""
    statuses: dict[str, int | None] = {}
    variants: list[CallbackVariant] = [
        "ok",
        "bad_signature",
        "stale",
        "unsigned",
        "malformed",
        "oversize",
        "off_host",
    ]
    for variant in variants:
        said = await control.inbound("bob", "cid-group", "@bot hi", variant=variant)
        assert said.delivery is not None
        assert said.delivery.callback is not None
        statuses[variant] = said.delivery.callback.status
    action = await control.inbound("alice", "cid-wand-alice", "hello")
    wrong_token = await control.inbound("alice", "cid-wand-alice", "x", variant="bad_signature")
    assert statuses == {
        "ok": 200,
        "bad_signature": 401,
        "stale": 401,
        "unsigned": 401,
        "malformed": 400,
        "oversize": 413,
        "off_host": 400,
    }
    assert action.delivery is not None
    assert action.delivery.callback is not None
    assert wrong_token.delivery is not None
    assert wrong_token.delivery.callback is not None
    assert (action.delivery.callback.status, wrong_token.delivery.callback.status) == (200, 401)
    assert [(t.source, t.text) for t in doors] == [
        ("http_bot", "@bot hi"),
        ("http_action", "hello"),
    ]
