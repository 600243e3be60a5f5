"""What a card's button press sends the app (§13.2), and the log of presses made.

Pure and without I/O: ``press_payload`` renders the callback DingTalk sends when a user
presses a card's button, for whichever route carries it (a Stream CALLBACK frame on
``CARD_TOPIC`` or a POST to a registered URL; ``card_headers`` signs the latter, §13.1).
``content`` and ``extension`` are JSON *strings*, as on the platform; a card in an AI
assistant's chat also carries that chat's ``conversationToken``. ``PressLog`` keeps
every press with the app's answer and publishes it as ``card.pressed``; the sending
itself is ``card_press``.
"""

from __future__ import annotations

import json
from typing import Any

from bridge.emulator.control.views import EventView, PressView
from bridge.emulator.openapi.cards import CardInstance, CardPlace
from bridge.emulator.webhooks.inbound import CORP_ID
from bridge.emulator.webhooks.signature import card_sign
from bridge.emulator.world.bus import EventBus

CARD_TOPIC = "/v1.0/card/instances/callback"
"""The Stream topic of card callbacks (a card created with ``callbackType: "STREAM"``)."""

STAFF_ID = 1
"""``userIdType`` 1: ``userId`` is the presser's staff id (the cards bridge sends say so)."""

JSON_TYPE = "application/json; charset=utf-8"


def press_payload(
    card: CardInstance, place: CardPlace, user_id: str, action: str
) -> dict[str, Any]:
    """The ``actionCallback`` of ``user_id`` pressing the button ``action`` on ``card``."""
    content = {"cardPrivateData": {"actionIds": [action], "params": {"action": "true"}}}
    payload: dict[str, Any] = {
        "type": "actionCallback",
        "outTrackId": card.out_track_id,
        "corpId": CORP_ID,
        "userId": user_id,
        "userIdType": STAFF_ID,
        "spaceType": place.space_type,
        "spaceId": place.space_id,
        "extension": "{}",
        "content": json.dumps(content, ensure_ascii=False),
    }
    if place.conversation_token:
        payload["conversationToken"] = place.conversation_token
    return payload


def card_headers(api_secret: str | None, now_ms: int) -> dict[str, str]:
    """The headers of a card callback POST: signed when the route has an ``apiSecret``."""
    headers = {"content-type": JSON_TYPE}
    if api_secret:
        headers["x-ddpaas-signature-timestamp"] = str(now_ms)
        headers["x-ddpaas-signature"] = card_sign(now_ms, api_secret)
    return headers


class PressLog:
    """Every press made through the control API, in order, with the app's answer."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._log: list[PressView] = []

    def record(self, press: PressView) -> PressView:
        """Log one press (numbered here, whatever its ``seq``) and publish it."""
        view = press.model_copy(update={"seq": len(self._log) + 1})
        self._log.append(view)
        self._bus.publish(EventView(type="card.pressed", press=view))
        return view

    def since(self, seq: int = 0) -> list[PressView]:
        """Presses after ``seq``, oldest first."""
        return [p for p in self._log if p.seq > seq]
