"""DingTalkClient.open_stream against the served emulator: the Stream ticket request (M).

The gateway call goes through the client like every other call (budget, retry policy,
error mapping). What bridge sent is read from the emulator's call log, and the headers
from the request as it left the HTTP client; no code of ours is patched.
"""

from __future__ import annotations

import httpx2
import pytest

from bridge.config import DingTalkConfig
from bridge.dingtalk import host
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.wire import Subscription
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import FaultSpec
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.errors import PlatformAuthError
from tests.dingtalk.conftest import MakeClient

BOT = Subscription.callback("/v1.0/im/bot/messages/get")
ACTION = Subscription.callback("/v1.0/graph/api/invoke")


@pytest.mark.anyio
async def test_open_stream_returns_a_ticket_the_gateway_accepts(
    client: DingTalkClient, http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """The ticket opens the WebSocket at the endpoint the gateway named."""
    ticket = await client.open_stream([BOT, ACTION])
    async with http.websocket(ticket.endpoint, params={"ticket": ticket.ticket}):
        [connection] = await control.wait_connections(1)
    assert connection.client_id == DEFAULT_APP
    [call] = await control.calls(operations=[Operation.GATEWAY_OPEN])
    assert (call.status, call.response["ticket"]) == (200, ticket.ticket)


@pytest.mark.anyio
async def test_open_stream_request_matches_the_official_sdks(
    config: DingTalkConfig, budget: RateBudget, control: EmulatorControl
) -> None:
    """Accept is JSON; the body has the credentials, topics, bridge's ua and the real localIp."""
    sent: list[httpx2.Request] = []

    async def keep(request: httpx2.Request) -> None:
        sent.append(request)

    async with httpx2.AsyncClient(event_hooks={"request": [keep]}) as http:
        client = DingTalkClient(
            http, config, client_id=DEFAULT_APP, client_secret=DEFAULT_SECRET, budget=budget
        )
        await client.open_stream([BOT, ACTION])
    [request] = sent
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert "x-acs-dingtalk-access-token" not in request.headers
    [call] = await control.calls(operations=[Operation.GATEWAY_OPEN])
    assert call.request == {
        "clientId": DEFAULT_APP,
        "clientSecret": DEFAULT_SECRET,
        "subscriptions": [
            {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"},
            {"type": "CALLBACK", "topic": "/v1.0/graph/api/invoke"},
        ],
        "ua": host.user_agent(),
        "localIp": host.local_ip(),
    }
    assert call.request["ua"].startswith("dingtalk-stream-bridge/v")


@pytest.mark.anyio
async def test_open_stream_with_a_wrong_secret_is_an_auth_error(
    make_client: MakeClient, control: EmulatorControl
) -> None:
    """A refused credential (400 invalidClientIdOrSecret) is PlatformAuthError, not retried."""
    client = make_client(client_secret="wrong")
    with pytest.raises(PlatformAuthError) as caught:
        await client.open_stream([BOT])
    assert (caught.value.status, caught.value.code) == (400, "invalidClientIdOrSecret")
    assert caught.value.operation == "gateway.connections.open"
    assert len(await control.calls(operations=[Operation.GATEWAY_OPEN])) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalidParameter"),
        (401, "Unauthorized"),
        (403, "Forbidden.AccessDenied.IpNotInWhiteList"),
    ],
)
async def test_every_gateway_refusal_is_an_auth_error(
    client: DingTalkClient, control: EmulatorControl, status: int, code: str
) -> None:
    """400, 401 and 403 from the gateway all surface as PlatformAuthError."""
    await control.add_fault(FaultSpec(operation=Operation.GATEWAY_OPEN, status=status, code=code))
    with pytest.raises(PlatformAuthError) as caught:
        await client.open_stream([BOT])
    assert (caught.value.status, caught.value.code) == (status, code)


@pytest.mark.anyio
async def test_a_throttled_gateway_is_retried_by_the_policy(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """A 429 Throttling is a rate limit, waited out and retried like any call's."""
    await control.add_fault(
        FaultSpec(operation=Operation.GATEWAY_OPEN, status=429, code="Throttling", count=1)
    )
    ticket = await client.open_stream([BOT])
    assert ticket.ticket
    statuses = [c.status for c in await control.calls(operations=[Operation.GATEWAY_OPEN])]
    assert statuses == [429, 200]
