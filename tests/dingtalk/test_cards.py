"""Tests for bridge.dingtalk.cards: card request bodies and delivery results."""

from __future__ import annotations

from bridge.dingtalk import cards
from bridge.dingtalk.operations import Operation


def test_card_bodies() -> None:
    """Card create/deliver/update/streaming bodies follow the Stream SDK's shape."""
    group = cards.CardSpace.group("cid", "robot")
    deliver = cards.card_deliver_body("t1", group)
    assert deliver == {
        "outTrackId": "t1",
        "userIdType": 1,
        "openSpaceId": "dtv1.card//IM_GROUP.cid",
        "imGroupOpenDeliverModel": {"robotCode": "robot"},
    }
    single = cards.card_create_and_deliver_body(
        "t2", "tpl", {"flowStatus": "1"}, cards.CardSpace.single("staff")
    )
    assert single["openSpaceId"] == "dtv1.card//IM_ROBOT.staff"
    assert single["cardData"] == {"cardParamMap": {"flowStatus": "1"}}
    assert single["cardTemplateId"] == "tpl"
    update = cards.card_update_body("t1", {"flowStatus": cards.FlowStatus.FINISHED})
    assert update["cardData"] == {"cardParamMap": {"flowStatus": "3"}}
    stream = cards.card_streaming_body("t1", "g", "k", "text", finalize=False, error=True)
    assert stream == {
        "outTrackId": "t1",
        "guid": "g",
        "key": "k",
        "content": "text",
        "isFull": True,
        "isFinalize": False,
        "isError": True,
    }


def test_parse_deliver_results_both_shapes() -> None:
    """deliver (result list) and createAndDeliver (result.deliverResults) both parse."""
    item = {
        "spaceType": "IM_GROUP",
        "spaceId": "cid",
        "success": True,
        "errorMsg": "",
        "carrierId": "m1",
    }
    expected = (cards.DeliverResult("IM_GROUP", "cid", True, None, "m1"),)
    assert (
        cards.parse_deliver_results(Operation.CARD_DELIVER, {"success": True, "result": [item]})
        == expected
    )
    nested = {"success": True, "result": {"outTrackId": "t", "deliverResults": [item]}}
    assert cards.parse_deliver_results(Operation.CARD_CREATE_AND_DELIVER, nested) == expected
    assert cards.parse_deliver_results(Operation.CARD_DELIVER, {"success": True}) == ()


def test_card_callbacks_come_over_stream_unless_a_route_key_is_given() -> None:
    """callbackType STREAM by default; HTTP with callbackRouteKey when one is named (§13.1)."""
    space = cards.CardSpace.single("staff")
    stream = cards.card_create_and_deliver_body("t", "tpl", {}, space)
    assert stream["callbackType"] == "STREAM"
    assert "callbackRouteKey" not in stream
    http = cards.card_create_and_deliver_body("t", "tpl", {}, space, callback_route_key="k1")
    assert (http["callbackType"], http["callbackRouteKey"]) == ("HTTP", "k1")


def test_the_stop_button_parameters_are_strings() -> None:
    """stop_action and hasAction (v1 and v2 templates) are the strings "true"/"false"."""
    assert cards.STOP_SHOWN == {"stop_action": "true", "hasAction": "true"}
    assert cards.STOP_HIDDEN == {"stop_action": "false", "hasAction": "false"}
