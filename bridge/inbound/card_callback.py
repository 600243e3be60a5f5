"""The card callback door: a card's button pressed (``dingtalk-api.md`` §13), as a stop.

DingTalk calls back when a user presses a "回传请求" button of a card: over Stream on
``CARD_TOPIC`` (a card created with ``callbackType: "STREAM"``) or over HTTP to the
URL registered for the card's ``callbackRouteKey`` (``POST /dingtalk/<assistant>/card``,
``bridge.inbound.http``, signed with the registration's ``apiSecret``). The payload
(§13.2) names the card (``outTrackId``), who pressed (``userId``, a staff id), and in
``content`` (a JSON string) ``cardPrivateData.actionIds``/``params``; a callback from an
AI-assistant card carries a ``conversationToken`` (§6.5).

bridge's cards have one button, the stop button (action id ``STOP_ACTION``, §13.3):
``read_card_callback`` checks the payload field by field (400 naming the field) into a
``CardAction``, ``stop_requests`` makes it the ``StopRequest`` for its card and its
token, and ``pressed`` hands them to ``bridge.stops``. The door answers at once
(``ACK``): the callback must be answered within 2 s, and the stop itself (closing the
model's stream, closing the card) happens after, in the reply's own task. Any other
action, or a press for a card that has finished, is answered the same and changes
nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.inbound.fields import Leaf, Rules, Spec, checked
from bridge.inbound.sanitize import read_json
from bridge.state.stop_mailbox import StopRequest
from bridge.stops import StopOutcome

__all__ = [
    "ACK",
    "CARD_CALLBACK",
    "CARD_TOPIC",
    "STOP_ACTION",
    "CardAction",
    "Stop",
    "pressed",
    "read_card_callback",
    "stop_requests",
]

CARD_TOPIC = "/v1.0/card/instances/callback"
STOP_ACTION = "btn_stop"
ACK: dict[str, Any] = {"success": True}
"""The answer to a card callback: the Stream ACK's ``response``, the HTTP body (§13.2)."""

Stop = Callable[[StopRequest], Awaitable[StopOutcome]]

CARD_CALLBACK: Spec = {
    "type": Leaf.STR,
    "outTrackId": Leaf.ID,
    "userId": Leaf.ID,
    "corpId": Leaf.ID,
    "conversationToken": Leaf.TOKEN,
    "content": (Leaf.STR, Leaf.OBJECT),
}
"""A card callback (§13.2): the fields bridge reads."""

_CONTENT: Spec = {"cardPrivateData": {"actionIds": [Leaf.ID], "params": Leaf.OBJECT}}


@dataclass(frozen=True, slots=True)
class CardAction:
    """A button pressed on a card: which card, by whom, which action."""

    out_track_id: str | None
    conversation_token: str | None
    user_id: str | None
    action_ids: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)


def read_card_callback(data: Any) -> CardAction:
    """The ``CardAction`` of a parsed callback payload; ``InboundError(400)`` if malformed."""
    body = checked(data, CARD_CALLBACK, Rules(), where="card callback")
    content = body.get("content") or {}
    if isinstance(content, str):
        content = read_json(content, "card callback content")
    private = checked(content, _CONTENT, Rules(), where="content").get("cardPrivateData") or {}
    return CardAction(
        out_track_id=body.get("outTrackId") or None,
        conversation_token=body.get("conversationToken") or None,
        user_id=body.get("userId") or None,
        action_ids=tuple(private.get("actionIds") or ()),
        params=dict(private.get("params") or {}),
    )


def stop_requests(action: CardAction) -> list[StopRequest]:
    """The stops the action asks for: one per thing it names (its card, its token), or
    none for another button."""
    if STOP_ACTION not in action.action_ids:
        return []
    requester = frozenset({action.user_id}) if action.user_id else frozenset()
    targets = []
    if action.out_track_id:
        targets.append(f"card:{action.out_track_id}")
    if action.conversation_token:
        targets.append(f"token:{action.conversation_token}")
    return [StopRequest(target, requester, "stop button") for target in targets]


async def pressed(action: CardAction, stop: Stop) -> StopOutcome | None:
    """Hand the stops of ``action`` to ``stop``; the outcome of the first that found its
    reply (or the last one's), None when the action asks for no stop."""
    outcome = None
    for request in stop_requests(action):
        outcome = await stop(request)
        if outcome in (StopOutcome.STOPPED, StopOutcome.REPEATED, StopOutcome.REFUSED):
            break
    return outcome
