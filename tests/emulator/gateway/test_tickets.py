"""Stream gateway tickets: issued for good credentials, single use, refused at the handshake."""

from __future__ import annotations

import httpx2
import pytest
from httpx2.websockets import WebSocketUpgradeError

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.gateway.frames import ACTION_TOPIC, BOT_TOPIC
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from tests.emulator.gateway.ws import open_gateway, refusal


@pytest.mark.anyio
async def test_ticket_is_single_use(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """A ticket opens one socket; the second handshake with it is refused with 403."""
    opened = await open_gateway(http)
    assert opened["endpoint"].startswith("ws://127.0.0.1:")
    assert opened["endpoint"].endswith("/connect")
    async with http.websocket(opened["endpoint"], params={"ticket": opened["ticket"]}):
        [live] = await quiet.wait_connections(1)
        assert (live.client_id, live.ua, live.local_ip) == (DEFAULT_APP, "tests/1.0", "10.0.0.5")
        assert live.topics == [BOT_TOPIC, ACTION_TOPIC]
    with pytest.raises(WebSocketUpgradeError) as refused:
        async with http.websocket(opened["endpoint"], params={"ticket": opened["ticket"]}):
            pass
    assert refused.value.response.status_code == 403
    assert await refusal(http, opened["ticket"]) == (403, "invalidTicket", "ticket already used")


@pytest.mark.anyio
async def test_ticket_expires_on_the_emulated_clock(
    http: httpx2.AsyncClient, quiet: EmulatorControl
) -> None:
    """A ticket older than 90 emulated seconds is refused at the handshake."""
    opened = await open_gateway(http)
    await quiet.advance_clock(91)
    assert await refusal(http, opened["ticket"]) == (403, "invalidTicket", "ticket expired")
    with pytest.raises(WebSocketUpgradeError):
        async with http.websocket(opened["endpoint"], params={"ticket": opened["ticket"]}):
            pass


@pytest.mark.anyio
async def test_unknown_ticket_is_refused(http: httpx2.AsyncClient, quiet: EmulatorControl) -> None:
    """A made-up ticket (or none) never opens a socket."""
    for params in ({"ticket": "made-up"}, {}):
        with pytest.raises(WebSocketUpgradeError) as refused:
            async with http.websocket("/connect", params=params):
                pass
        assert refused.value.response.status_code == 403
    assert await refusal(http, "made-up") == (403, "invalidTicket", "unknown ticket")
    assert await quiet.connections() == []


@pytest.mark.anyio
async def test_bad_credentials_and_missing_fields(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """A wrong secret and a missing field are 400s, each logged as a gateway open."""
    subscriptions = [{"type": "CALLBACK", "topic": BOT_TOPIC}]
    wrong = await http.post(
        "/v1.0/gateway/connections/open",
        json={"clientId": DEFAULT_APP, "clientSecret": "nope", "subscriptions": subscriptions},
    )
    missing = await http.post(
        "/v1.0/gateway/connections/open",
        json={"clientId": DEFAULT_APP, "clientSecret": DEFAULT_SECRET},
    )
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalidClientIdOrSecret")
    assert (missing.status_code, missing.json()["code"]) == (400, "invalidParameter")
    calls = await control.calls(operations=[Api.GATEWAY_OPEN])
    assert [(c.status, c.error_code) for c in calls] == [
        (400, "invalidClientIdOrSecret"),
        (400, "invalidParameter"),
    ]
