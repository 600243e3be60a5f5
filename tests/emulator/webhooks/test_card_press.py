"""Pressing a card's stop button (§13): the callback over Stream or HTTP, and refusals."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.admission import Admission
from bridge.dingtalk.signature import verify_card
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.errors import EmulatorError
from bridge.emulator.server import RunningEmulator
from bridge.emulator.state import DEFAULT_SECRET
from bridge.emulator.webhooks.presses import CARD_TOPIC
from bridge.inbound.http import AssistantDoor, create_http_app
from bridge.serving import running_server
from bridge.state.stop_mailbox import StopRequest
from bridge.stops import StopOutcome
from bridge.turn import Turn
from tests.emulator.gateway.ws import QUIET, ack, receive, stream

SDK_TEMPLATE = "382e4302-551d-4880-bf29-a30acfab2e71.schema"
INSTANCES = "/v1.0/card/instances"
REGISTER = "/v1.0/card/callbacks/register"
SECRET = "this is a secret"


async def _card(
    http: httpx2.AsyncClient,
    auth: dict[str, str],
    out_track_id: str = "card-1",
    *,
    space: str = "dtv1.card//IM_ROBOT.alice",
    params: dict[str, str] | None = None,
    **callback: str,
) -> None:
    """A card delivered inputting with its stop button on (``callback``: its routing)."""
    body = {
        "cardTemplateId": SDK_TEMPLATE,
        "outTrackId": out_track_id,
        "cardData": {
            "cardParamMap": params
            or {"flowStatus": "2", "stop_action": "true", "hasAction": "true"}
        },
        **(callback or {"callbackType": "STREAM"}),
        "userIdType": 1,
        "openSpaceId": space,
    }
    response = await http.post(f"{INSTANCES}/createAndDeliver", json=body, headers=auth)
    assert response.status_code == 200, response.text


async def _update(
    http: httpx2.AsyncClient, auth: dict[str, str], params: dict[str, str], card: str = "card-1"
) -> None:
    body = {"outTrackId": card, "cardData": {"cardParamMap": params}}
    response = await http.put(INSTANCES, json=body, headers=auth)
    assert response.status_code == 200, response.text


@dataclass
class Receiver:
    """A loopback server keeping every card callback; it answers ``{"success": true}``."""

    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A recording receiver on 127.0.0.1 with an ephemeral port."""
    kept: list[tuple[dict[str, str], bytes]] = []

    async def keep(request: Request) -> Response:
        kept.append((dict(request.headers), await request.body()))
        return JSONResponse({"success": True})

    app = Starlette(routes=[Route("/card", keep, methods=["POST"])])
    async with running_server(app) as url:
        yield Receiver(f"{url}/card", kept)


# -- the stop button in the control views ---------------------------------------------------


@pytest.mark.anyio
async def test_the_button_shows_while_inputting_and_hides_when_told(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """stop_action/hasAction "true" on an inputting card shows it; "false" hides it."""
    await _card(http, auth)
    [message] = await control.transcript("cid-alice")
    assert (message.out_track_id, message.stop_button) == ("card-1", True)
    await _update(http, auth, {"stop_action": "false", "hasAction": "false"})
    [message] = await control.transcript("cid-alice")
    assert message.stop_button is False


@pytest.mark.anyio
async def test_the_button_waits_for_inputting_and_goes_with_the_end(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A processing card shows no button; inputting shows it; finishing hides it."""
    await _card(http, auth, params={"flowStatus": "1", "stop_action": "true"})
    [message] = await control.transcript("cid-alice")
    assert message.stop_button is False
    await _update(http, auth, {"flowStatus": "2"})
    assert (await control.transcript("cid-alice"))[0].stop_button is True
    await _update(http, auth, {"flowStatus": "3"})
    assert (await control.transcript("cid-alice"))[0].stop_button is False


# -- over Stream ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_press_over_stream_is_a_callback_frame_answered_by_its_ack(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """The press is a CALLBACK frame on the card topic; the ACK's data is its answer."""
    await control.set_stream_settings(QUIET)
    said = await control.inbound("alice", "cid-alice", "写一篇长文", deliver="none")
    await _card(http, auth)
    async with stream(http, (CARD_TOPIC,)) as ws, anyio.create_task_group() as tg:
        await control.wait_connections()
        pressed: list[Any] = []

        async def press() -> None:
            pressed.append(await control.press_button("card-1", "alice"))

        tg.start_soon(press)
        frame = await receive(ws)
        assert (frame["type"], frame["headers"]["topic"]) == ("CALLBACK", CARD_TOPIC)
        data = json.loads(frame["data"])
        assert data == {
            "type": "actionCallback",
            "outTrackId": "card-1",
            "corpId": data["corpId"],
            "userId": "alice",
            "userIdType": 1,
            "spaceType": "IM_ROBOT",
            "spaceId": "alice",
            "extension": "{}",
            "content": data["content"],
            "conversationToken": said.action["conversationToken"],
        }
        assert json.loads(data["content"]) == {
            "cardPrivateData": {"actionIds": ["btn_stop"], "params": {"action": "true"}}
        }
        await ws.send_text(ack(frame, {"success": True}))
    [press_view] = pressed
    assert (press_view.route, press_view.status) == ("stream", 200)
    assert press_view.response == {"response": {"success": True}}
    assert press_view.frame_id == frame["headers"]["messageId"]
    assert [p.seq for p in await control.presses()] == [1]


@pytest.mark.anyio
async def test_an_unanswered_press_is_reported_after_two_seconds(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """Without an ACK within 2 s the press comes back with no status and says so."""
    await control.set_stream_settings(QUIET)
    await _card(http, auth)
    async with stream(http, (CARD_TOPIC,)) as ws:
        await control.wait_connections()
        started = time.monotonic()
        press_view = await control.press_button("card-1", "alice")
        assert 1.9 <= time.monotonic() - started < 5
        assert (await receive(ws))["headers"]["topic"] == CARD_TOPIC
    assert press_view.status is None
    assert press_view.error == "no ACK within 2 s"


@pytest.mark.anyio
async def test_a_stream_card_without_a_listener_is_refused(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """No live connection subscribed to the card topic: 409, nothing logged."""
    await _card(http, auth)
    with pytest.raises(EmulatorError) as caught:
        await control.press_button("card-1", "alice")
    assert caught.value.status == 409
    assert await control.presses() == []


# -- over HTTP --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_register_keeps_the_first_url_unless_forced(
    http: httpx2.AsyncClient, auth: dict[str, str]
) -> None:
    """One key maps to one URL: a second registration keeps it, forceUpdate replaces it."""
    first = {"callbackRouteKey": "k", "callbackUrl": "http://a.example/card", "apiSecret": "s1"}
    answer = await http.post(REGISTER, json=first, headers=auth)
    assert answer.json() == {
        "success": True,
        "result": {"callbackUrl": "http://a.example/card", "apiSecret": "s1"},
    }
    second = {**first, "callbackUrl": "http://b.example/card", "apiSecret": "s2"}
    kept = await http.post(REGISTER, json=second, headers=auth)
    assert kept.json()["result"] == {"callbackUrl": "http://a.example/card", "apiSecret": "s1"}
    forced = await http.post(REGISTER, json={**second, "forceUpdate": True}, headers=auth)
    assert forced.json()["result"] == {"callbackUrl": "http://b.example/card", "apiSecret": "s2"}


@pytest.mark.anyio
async def test_register_needs_a_token_and_its_fields(
    http: httpx2.AsyncClient, auth: dict[str, str]
) -> None:
    """Without an access token, or without a key or URL, a 400 naming why."""
    body = {"callbackRouteKey": "k", "callbackUrl": "http://a.example/card"}
    anonymous = await http.post(REGISTER, json=body)
    assert (anonymous.status_code, anonymous.json()["code"]) == (400, "InvalidAuthentication")
    missing = await http.post(REGISTER, json={"callbackUrl": "http://a"}, headers=auth)
    assert (missing.status_code, missing.json()["code"]) == (400, "param.callbackRouteKey")


@pytest.mark.anyio
async def test_a_press_over_http_is_posted_signed_to_the_registered_url(
    http: httpx2.AsyncClient,
    auth: dict[str, str],
    control: EmulatorControl,
    receiver: Receiver,
) -> None:
    """An HTTP card's press goes to its key's URL, signed with the apiSecret."""
    register = {"callbackRouteKey": "bridge", "callbackUrl": receiver.url, "apiSecret": SECRET}
    assert (await http.post(REGISTER, json=register, headers=auth)).status_code == 200
    await _card(
        http,
        auth,
        space="dtv1.card//IM_GROUP.cid-group",
        callbackType="HTTP",
        callbackRouteKey="bridge",
    )
    press_view = await control.press_button("card-1", "bob")
    assert (press_view.route, press_view.url) == ("http", receiver.url)
    assert (press_view.status, press_view.response) == (200, {"success": True})
    [(headers, body)] = receiver.requests
    verify_card(
        headers["x-ddpaas-signature-timestamp"],
        headers["x-ddpaas-signature"],
        SECRET,
        now_ms=int(time.time() * 1000),
    )
    sent = json.loads(body)
    assert (sent["userId"], sent["spaceType"], sent["spaceId"]) == ("bob", "IM_GROUP", "cid-group")
    assert sent == press_view.payload


@pytest.mark.anyio
async def test_an_http_card_without_a_registration_is_refused(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A route key nobody registered: 409."""
    await _card(http, auth, callbackType="HTTP", callbackRouteKey="nobody")
    with pytest.raises(EmulatorError) as caught:
        await control.press_button("card-1", "alice")
    assert caught.value.status == 409


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_hidden_button_cannot_be_pressed(
    http: httpx2.AsyncClient,
    auth: dict[str, str],
    control: EmulatorControl,
    receiver: Receiver,
) -> None:
    """Once the button is hidden, a press is 409 and nothing is sent."""
    register = {"callbackRouteKey": "bridge", "callbackUrl": receiver.url}
    assert (await http.post(REGISTER, json=register, headers=auth)).status_code == 200
    await _card(http, auth, callbackType="HTTP", callbackRouteKey="bridge")
    await _update(http, auth, {"flowStatus": "3", "stop_action": "false", "hasAction": "false"})
    with pytest.raises(EmulatorError) as caught:
        await control.press_button("card-1", "alice")
    assert caught.value.status == 409
    assert receiver.requests == []
    assert await control.presses() == []


@pytest.mark.anyio
async def test_only_a_user_who_sees_the_card_can_press_it(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """An unknown card or user is 404; a user outside the card's chat 409."""
    await _card(http, auth)
    for card, user, status in (
        ("nope", "alice", 404),
        ("card-1", "zed", 404),
        ("card-1", "bob", 409),
    ):
        with pytest.raises(EmulatorError) as caught:
            await control.press_button(card, user)
        assert caught.value.status == status


@pytest.mark.anyio
async def test_bridge_card_door_takes_the_press_as_a_stop(
    http: httpx2.AsyncClient,
    auth: dict[str, str],
    control: EmulatorControl,
    emulator: RunningEmulator,
) -> None:
    """End to end: bridge's HTTP card door verifies the press and asks to stop the card."""
    stops: list[StopRequest] = []

    async def stop(request: StopRequest) -> StopOutcome:
        stops.append(request)
        return StopOutcome.STOPPED

    door = AssistantDoor("dev", DEFAULT_SECRET, None, card_secret=SECRET)
    app = create_http_app(
        assistants={"dev": door},
        accept=_refuse_turns,
        push=None,
        push_token=None,
        reply_hosts=(emulator.base_url.removeprefix("http://"),),
        health=dict,
        stop=stop,
    )
    async with running_server(app) as url:
        register = {
            "callbackRouteKey": "bridge",
            "callbackUrl": f"{url}/dingtalk/dev/card",
            "apiSecret": SECRET,
        }
        assert (await http.post(REGISTER, json=register, headers=auth)).status_code == 200
        await _card(http, auth, callbackType="HTTP", callbackRouteKey="bridge")
        press_view = await control.press_button("card-1", "alice")
    assert (press_view.status, press_view.response) == (200, {"success": True})
    [request] = stops
    assert (request.target, request.requester) == ("card:card-1", frozenset({"alice"}))


async def _refuse_turns(turn: Turn) -> Admission:
    raise AssertionError(f"a press is no Turn: {turn}")
