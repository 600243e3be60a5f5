"""Stream gateway tickets: issued for good credentials, single use, refused at the handshake."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx2
import pytest
from httpx2.websockets import WebSocketUpgradeError

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.gateway.frames import ACTION_TOPIC, BOT_TOPIC
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from tests.emulator.gateway.ws import JSON_ACCEPT, open_gateway, refusal


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
        headers=JSON_ACCEPT,
    )
    missing = await http.post(
        "/v1.0/gateway/connections/open",
        json={"clientId": DEFAULT_APP, "clientSecret": DEFAULT_SECRET},
        headers=JSON_ACCEPT,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalidClientIdOrSecret")
    assert (missing.status_code, missing.json()["code"]) == (400, "invalidParameter")
    calls = await control.calls(operations=[Api.GATEWAY_OPEN])
    assert [(c.status, c.error_code) for c in calls] == [
        (400, "invalidClientIdOrSecret"),
        (400, "invalidParameter"),
    ]


def _open_body(secret: str = DEFAULT_SECRET) -> dict[str, object]:
    return {
        "clientId": DEFAULT_APP,
        "clientSecret": secret,
        "subscriptions": [{"type": "CALLBACK", "topic": BOT_TOPIC}],
    }


@pytest.mark.anyio
@pytest.mark.parametrize("accept", [None, "*/*", "text/xml"])
async def test_ticket_answers_xml_unless_json_is_asked_for(
    http: httpx2.AsyncClient, quiet: EmulatorControl, accept: str | None
) -> None:
    """Without ``Accept: application/json`` the ticket comes as XML, and it still works."""
    headers = {"Accept": accept} if accept else {}
    if accept is None:
        http.headers.pop("accept", None)
    response = await http.post("/v1.0/gateway/connections/open", json=_open_body(), headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert not response.text.lstrip().startswith("{")
    root = ET.fromstring(response.text)
    assert root.tag == "OpenConnectionResponse"
    endpoint, ticket = root.findtext("endpoint"), root.findtext("ticket")
    assert endpoint is not None
    assert endpoint.endswith("/connect")
    async with http.websocket(endpoint, params={"ticket": ticket or ""}):
        await quiet.wait_connections(1)


@pytest.mark.anyio
async def test_json_is_answered_when_accept_lists_it_among_others(
    http: httpx2.AsyncClient,
) -> None:
    """``Accept: application/json, text/plain, */*`` (axios's default) gets JSON."""
    headers = {"Accept": "application/json, text/plain, */*"}
    response = await http.post("/v1.0/gateway/connections/open", json=_open_body(), headers=headers)
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"endpoint", "ticket"}


@pytest.mark.anyio
async def test_refusal_is_xml_too_without_the_json_header(http: httpx2.AsyncClient) -> None:
    """A wrong secret asked without the JSON header is a 400 whose body is XML."""
    response = await http.post(
        "/v1.0/gateway/connections/open", json=_open_body("nope"), headers={"Accept": "*/*"}
    )
    assert response.status_code == 400
    root = ET.fromstring(response.text)
    assert (root.tag, root.findtext("code")) == ("Error", "invalidClientIdOrSecret")
    assert response.headers["x-acs-request-id"] == root.findtext("requestid")
