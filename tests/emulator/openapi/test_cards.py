"""Card instances and AI card streaming (§4 I and J)."""

from __future__ import annotations

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import LimitsView

SDK_TEMPLATE = "382e4302-551d-4880-bf29-a30acfab2e71.schema"
INSTANCES = "/v1.0/card/instances"
STREAMING = "/v1.0/card/streaming"


def _create_body(out_track_id: str, **extra: object) -> dict[str, object]:
    return {
        "cardTemplateId": SDK_TEMPLATE,
        "outTrackId": out_track_id,
        "cardData": {"cardParamMap": {"flowStatus": "1"}},
        "callbackType": "STREAM",
        **extra,
    }


def _stream(out_track_id: str, guid: str, content: str, **flags: bool) -> dict[str, object]:
    return {
        "outTrackId": out_track_id,
        "guid": guid,
        "key": "msgContent",
        "content": content,
        "isFull": True,
        **flags,
    }


async def _delivered_card(
    http: httpx2.AsyncClient, auth: dict[str, str], out_track_id: str = "card-1"
) -> None:
    body = _create_body(
        out_track_id,
        openSpaceId="dtv1.card//IM_GROUP.cid-group",
        imGroupOpenDeliverModel={"robotCode": "dingbridge-dev"},
    )
    response = await http.post(f"{INSTANCES}/createAndDeliver", json=body, headers=auth)
    assert response.status_code == 200, response.text


@pytest.mark.anyio
async def test_sdk_card_flow(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """create → deliver → flowStatus 2 → streaming → flowStatus 3, as the Stream SDK does."""
    created = await http.post(INSTANCES, json=_create_body("t1"), headers=auth)
    assert created.json() == {"success": True, "result": "t1"}
    assert (await control.transcript("cid-alice")) == []  # not visible before deliver
    delivered = await http.post(
        f"{INSTANCES}/deliver",
        json={
            "outTrackId": "t1",
            "userIdType": 1,
            "openSpaceId": "dtv1.card//IM_ROBOT.alice",
            "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT"},
        },
        headers=auth,
    )
    [result] = delivered.json()["result"]
    assert (result["spaceType"], result["spaceId"], result["success"]) == (
        "IM_ROBOT",
        "alice",
        True,
    )
    update = {"outTrackId": "t1", "cardData": {"cardParamMap": {"flowStatus": "2"}}}
    assert (await http.put(INSTANCES, json=update, headers=auth)).json() == {
        "success": True,
        "result": True,
    }
    for guid, text in (("g1", "Hel"), ("g2", "Hello")):
        response = await http.put(STREAMING, json=_stream("t1", guid, text), headers=auth)
        assert response.json() == {"success": True, "result": True}
    done = {"outTrackId": "t1", "cardData": {"cardParamMap": {"flowStatus": "3"}}}
    await http.put(INSTANCES, json=done, headers=auth)
    [message] = await control.transcript("cid-alice")
    assert message.id == result["carrierId"]
    assert [(c.state, c.text) for c in message.changes] == [
        ("preparing", ""),
        ("inputting", ""),
        ("inputting", "Hel"),
        ("inputting", "Hello"),
        ("finished", "Hello"),
    ]


@pytest.mark.anyio
async def test_streaming_guid_is_idempotent_and_flags_finish_or_fail(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A repeated guid changes nothing; isFinalize finishes a card and isError fails one."""
    await _delivered_card(http, auth, "a")
    await _delivered_card(http, auth, "b")
    for _ in range(2):
        await http.put(STREAMING, json=_stream("a", "same", "x", isFull=False), headers=auth)
    await http.put(STREAMING, json=_stream("a", "fin", "xy", isFinalize=True), headers=auth)
    await http.put(STREAMING, json=_stream("b", "err", "oops", isError=True), headers=auth)
    first, second = await control.transcript("cid-group")
    assert (first.state, first.text, len(first.changes)) == ("finished", "xy", 3)
    assert (second.state, second.text) == ("failed", "oops")
    late = await http.put(STREAMING, json=_stream("a", "late", "z"), headers=auth)
    assert late.status_code == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"guid": ""}, "param.stream.guidEmpty"),
        ({"key": ""}, "param.stream.keyEmpty"),
        ({"content": None}, "param.stream.contentEmpty"),
        ({"outTrackId": "missing"}, "param.stream.outTrackId"),
        ({"isFull": "yes"}, "param.stream.isFull"),
    ],
)
async def test_streaming_errors(
    http: httpx2.AsyncClient, auth: dict[str, str], change: dict[str, object], code: str
) -> None:
    """Each malformed streaming call gets its documented param.stream.* code."""
    await _delivered_card(http, auth)
    body = {**_stream("card-1", "g", "text"), **change}
    response = await http.put(STREAMING, json=body, headers=auth)
    assert response.status_code == 400
    assert response.json()["code"] == code


@pytest.mark.anyio
async def test_content_too_large(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A variable past the configured size is refused with "content is too large"."""
    await control.set_limits(LimitsView(card_content_chars=10))
    await _delivered_card(http, auth)
    ok = await http.put(STREAMING, json=_stream("card-1", "g1", "x" * 10), headers=auth)
    assert ok.status_code == 200
    big = await http.put(STREAMING, json=_stream("card-1", "g2", "y", isFull=False), headers=auth)
    assert big.status_code == 400
    assert big.json()["code"] == "param.stream.content"
    assert big.json()["message"] == "content is too large"


@pytest.mark.anyio
async def test_card_creation_errors(http: httpx2.AsyncClient, auth: dict[str, str]) -> None:
    """Unknown templates, duplicate outTrackIds and bad flowStatus are refused."""
    unknown = await http.post(
        INSTANCES, json={**_create_body("t"), "cardTemplateId": "nope"}, headers=auth
    )
    assert unknown.json()["message"] == "card template not exist"
    assert (await http.post(INSTANCES, json=_create_body("t"), headers=auth)).status_code == 200
    duplicate = await http.post(INSTANCES, json=_create_body("t"), headers=auth)
    assert duplicate.status_code == 400
    bad_status = {"outTrackId": "t", "cardData": {"cardParamMap": {"flowStatus": "9"}}}
    assert (await http.put(INSTANCES, json=bad_status, headers=auth)).status_code == 400
    missing = {"outTrackId": "ghost", "openSpaceId": "dtv1.card//IM_ROBOT.alice"}
    response = await http.post(f"{INSTANCES}/deliver", json=missing, headers=auth)
    assert response.json()["message"] == "card is not exist"


@pytest.mark.anyio
async def test_deliver_reports_unknown_spaces(
    http: httpx2.AsyncClient, auth: dict[str, str]
) -> None:
    """createAndDeliver answers per space: unknown spaces fail, known ones carry a message id."""
    body = _create_body(
        "multi", openSpaceId="dtv1.card//IM_GROUP.cid-group;dtv1.card//IM_ROBOT.zed"
    )
    response = await http.post(f"{INSTANCES}/createAndDeliver", json=body, headers=auth)
    result = response.json()["result"]
    assert result["outTrackId"] == "multi"
    assert [r["success"] for r in result["deliverResults"]] == [True, False]
    assert result["deliverResults"][0]["carrierId"].startswith("msg")
