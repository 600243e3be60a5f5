"""The card OpenAPI's JSON (wire contract ``shared/dingtalk-api.md`` §4 I, J).

An AI card is created from a template, delivered to a group or a single chat, moved
through its ``flowStatus`` and streamed into with ``PUT /v1.0/card/streaming``, the way
DingTalk's official Stream SDK does it. This module holds the values those calls take
and give (``FlowStatus``, ``CardSpace``, ``DeliverResult``), the ``*_body`` functions
that build their requests and ``parse_deliver_results``. A card's callbacks (its buttons,
§13) come over Stream unless it is created with a ``callback_route_key``: then over
HTTP, to the URL registered for that key (``callback_register_body``,
``parse_callback_url``). ``STOP_SHOWN``/``STOP_HIDDEN`` are the parameters of the stop
button (§13.3: ``stop_action`` in v1 templates, ``hasAction`` in v2). The AI-assistant
content cards of aiInteraction (``StreamingCard``, ``StaticCard``) are in ``wire``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from bridge.dingtalk.operations import Operation
from bridge.dingtalk.wire import JSON, require_success

__all__ = [
    "STOP_HIDDEN",
    "STOP_SHOWN",
    "CardSpace",
    "DeliverResult",
    "FlowStatus",
    "callback_register_body",
    "card_create_and_deliver_body",
    "card_create_body",
    "card_deliver_body",
    "card_streaming_body",
    "card_update_body",
    "parse_callback_url",
    "parse_deliver_results",
]


class FlowStatus(StrEnum):
    """An AI card's ``flowStatus`` (§4 J); card parameters are strings on the wire."""

    PROCESSING = "1"
    INPUTTING = "2"
    FINISHED = "3"
    EXECUTING = "4"
    FAILED = "5"


STOP_SHOWN = {"stop_action": "true", "hasAction": "true"}
STOP_HIDDEN = {"stop_action": "false", "hasAction": "false"}


@dataclass(frozen=True, slots=True)
class CardSpace:
    """Where a card is delivered: a group (with the robot that posts) or a single chat."""

    kind: Literal["group", "single"]
    id: str
    robot_code: str | None = None

    @classmethod
    def group(cls, conversation_id: str, robot_code: str) -> CardSpace:
        return cls("group", conversation_id, robot_code)

    @classmethod
    def single(cls, staff_id: str) -> CardSpace:
        return cls("single", staff_id)

    def fields(self) -> JSON:
        if self.kind == "group":
            return {
                "openSpaceId": f"dtv1.card//IM_GROUP.{self.id}",
                "imGroupOpenDeliverModel": {"robotCode": self.robot_code},
            }
        return {
            "openSpaceId": f"dtv1.card//IM_ROBOT.{self.id}",
            "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT"},
        }


@dataclass(frozen=True, slots=True)
class DeliverResult:
    """One destination of a card delivery and whether it got the card."""

    space_type: str
    space_id: str
    success: bool
    error_message: str | None = None
    carrier_id: str | None = None


# ---------------------------------------------------------------------- request bodies


def card_create_body(
    out_track_id: str,
    template_id: str,
    params: Mapping[str, str],
    *,
    callback_route_key: str | None = None,
) -> JSON:
    """Body of ``POST /v1.0/card/instances``, shaped as the official Stream SDK sends it.

    Callbacks come over Stream, or over HTTP to the route of ``callback_route_key``.
    """
    callback: JSON = {"callbackType": "STREAM"}
    if callback_route_key is not None:
        callback = {"callbackType": "HTTP", "callbackRouteKey": callback_route_key}
    return {
        "cardTemplateId": template_id,
        "outTrackId": out_track_id,
        "cardData": {"cardParamMap": dict(params)},
        **callback,
        "imGroupOpenSpaceModel": {"supportForward": True},
        "imRobotOpenSpaceModel": {"supportForward": True},
    }


def card_deliver_body(out_track_id: str, space: CardSpace) -> JSON:
    """Body of ``POST /v1.0/card/instances/deliver``."""
    return {"outTrackId": out_track_id, "userIdType": 1, **space.fields()}


def card_create_and_deliver_body(
    out_track_id: str,
    template_id: str,
    params: Mapping[str, str],
    space: CardSpace,
    *,
    callback_route_key: str | None = None,
) -> JSON:
    """Body of ``createAndDeliver``: the create body plus the destination."""
    return {
        **card_create_body(
            out_track_id, template_id, params, callback_route_key=callback_route_key
        ),
        "userIdType": 1,
        **space.fields(),
    }


def card_update_body(out_track_id: str, params: Mapping[str, str]) -> JSON:
    """Body of ``PUT /v1.0/card/instances``: change some card parameters, keep the rest."""
    return {
        "outTrackId": out_track_id,
        "cardData": {"cardParamMap": dict(params)},
        "cardUpdateOptions": {"updateCardDataByKey": True},
    }


def card_streaming_body(
    out_track_id: str, guid: str, key: str, content: str, *, finalize: bool, error: bool
) -> JSON:
    """Body of ``PUT /v1.0/card/streaming``; always ``isFull`` (markdown requires it)."""
    return {
        "outTrackId": out_track_id,
        "guid": guid,
        "key": key,
        "content": content,
        "isFull": True,
        "isFinalize": finalize,
        "isError": error,
    }


def callback_register_body(route_key: str, url: str, api_secret: str | None) -> JSON:
    """Body of ``POST /v1.0/card/callbacks/register`` (§13.1): ``url`` for ``route_key``.

    ``forceUpdate``: the configuration is the truth; without it DingTalk keeps a URL
    registered earlier for the key and the presses would go there.
    """
    body: JSON = {"callbackRouteKey": route_key, "callbackUrl": url, "forceUpdate": True}
    if api_secret is not None:
        body["apiSecret"] = api_secret
    return body


# ---------------------------------------------------------------------- success bodies


def parse_deliver_results(operation: Operation, body: Any) -> tuple[DeliverResult, ...]:
    """The per-destination results of a deliver or createAndDeliver answer.

    ``createAndDeliver`` nests them under ``result.deliverResults``; ``deliver`` returns
    them as ``result`` itself. A missing list means nothing was reported, not a failure.
    """
    require_success(operation, body)
    result = body.get("result") if isinstance(body, dict) else None
    items: Any = result.get("deliverResults") if isinstance(result, dict) else result
    if not isinstance(items, list):
        return ()
    return tuple(
        DeliverResult(
            space_type=str(item.get("spaceType", "")),
            space_id=str(item.get("spaceId", "")),
            success=item.get("success") is True,
            error_message=item.get("errorMsg") or None,
            carrier_id=item.get("carrierId") or None,
        )
        for item in items
        if isinstance(item, dict)
    )


def parse_callback_url(body: Any) -> str | None:
    """The URL in force after a callback registration (``result.callbackUrl``), if given."""
    require_success(Operation.CARD_CALLBACK_REGISTER, body)
    result = body.get("result") if isinstance(body, dict) else None
    url = result.get("callbackUrl") if isinstance(result, dict) else None
    return url if isinstance(url, str) and url else None
