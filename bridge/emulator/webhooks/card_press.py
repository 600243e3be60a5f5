"""A user presses a card's button: DingTalk calls the app back (§13), and says how it went.

The control API's ``POST /_emulator/cards/{outTrackId}/press`` lands here. The emulated
cards have one button, the stop button (§13.3); ``action`` is its action id (``btn_stop``
unless a test names another). A press is refused (``EmulatorError``, nothing sent) when
the card is unknown (404), the user is not in a chat the card was delivered to, or the
button does not show (409: the card is not inputting, or its variables hide it). It
then goes where the card's ``callbackType`` says:

- ``STREAM``: a CALLBACK frame on ``CARD_TOPIC`` to the app's newest live connection
  subscribed to it (409 without one), a delivery like an inbound message's; the answer
  is the ACK's code and ``data`` (``{"response": {…}}``).
- ``HTTP``: a POST to the URL registered for the card's ``callbackRouteKey`` (409 when
  none is), signed when the registration has an ``apiSecret``; the answer is the
  receiver's status and body.

DingTalk waits ``PRESS_TIMEOUT`` (2 s) for either; later, the press is reported without
an answer. Every press sent is logged (``Emulator.presses``, event ``card.pressed``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx2

from bridge.emulator.control.views import PressView
from bridge.emulator.errors import EmulatorError, not_found
from bridge.emulator.openapi.cards import CardInstance, CardPlace
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.presses import CARD_TOPIC, card_headers, press_payload

PRESS_TIMEOUT = 2.0
"""Seconds DingTalk gives an app to answer a card callback (§13.2, §14)."""

STOP_ACTION = "btn_stop"


async def press(emulator: Emulator, out_track_id: str, user_id: str, action: str) -> PressView:
    """``user_id`` presses ``action`` on the card; the logged press with the app's answer."""
    card = emulator.cards.instances.get(out_track_id)
    if card is None:
        raise not_found("card", out_track_id)
    place = _place(emulator, card, user_id)
    if not card.stop_button:
        raise EmulatorError(f"card {out_track_id!r} shows no button to press", status=409)
    payload = press_payload(card, place, user_id, action)
    draft = PressView(
        seq=0,
        out_track_id=card.out_track_id,
        client_id=card.client_id,
        user=user_id,
        action=action,
        route="stream",
        payload=payload,
        at=time.time(),
    )
    if card.callback_type == "STREAM":
        done = await _over_stream(emulator, card, draft)
    elif card.callback_type == "HTTP":
        done = await _over_http(emulator, card, draft)
    else:
        raise EmulatorError(
            f"card {out_track_id!r} was created without a callbackType: presses go nowhere",
            status=409,
        )
    return emulator.presses.record(done)


def _place(emulator: Emulator, card: CardInstance, user_id: str) -> CardPlace:
    """The chat of the card the user sees it in (the first, if several)."""
    emulator.transcript.user(user_id)  # 404 for an unknown user
    for place in card.places.values():
        if user_id in emulator.transcript.conversation(place.conversation_id).members:
            return place
    raise EmulatorError(
        f"{user_id!r} is in no chat card {card.out_track_id!r} was delivered to", status=409
    )


async def _over_stream(emulator: Emulator, card: CardInstance, draft: PressView) -> PressView:
    hub = emulator.stream
    data = json.dumps(draft.payload, ensure_ascii=False)
    press_id = f"press-{card.out_track_id}-{len(emulator.presses.since()) + 1}"
    delivery, frame = hub.deliver(card.client_id, CARD_TOPIC, press_id, data)
    sent = {"frame_id": frame.message_id, "delivery_id": delivery.id}
    if not await hub.wait_until(lambda: delivery.state == "acked", PRESS_TIMEOUT):
        error = f"no ACK within {PRESS_TIMEOUT:g} s"
        return draft.model_copy(update={**sent, "error": error})
    # The ACK may answer a redelivered frame (a short ack_timeout): match the delivery.
    ack = next(a for a in hub.acks() if a.delivery_id == delivery.id and a.error is None)
    answer = {"status": ack.code, "response": _parsed(ack.data)}
    return draft.model_copy(update={**sent, **answer})


async def _over_http(emulator: Emulator, card: CardInstance, draft: PressView) -> PressView:
    key = card.callback_route_key or ""
    route = emulator.card_routes.route(card.client_id, key)
    if route is None:
        raise EmulatorError(f"no callback URL is registered for route key {key!r}", status=409)
    headers = card_headers(route.api_secret, emulator.clock.now_ms())
    sent: dict[str, Any] = {"route": "http", "url": route.url, "headers": headers}
    body = json.dumps(draft.payload, ensure_ascii=False).encode()
    try:
        with anyio.fail_after(PRESS_TIMEOUT):
            async with httpx2.AsyncClient(timeout=PRESS_TIMEOUT, trust_env=False) as client:
                response = await client.post(route.url, content=body, headers=headers)
    except (TimeoutError, httpx2.TimeoutException):
        return draft.model_copy(update={**sent, "error": f"no answer within {PRESS_TIMEOUT:g} s"})
    except httpx2.HTTPError as exc:
        return draft.model_copy(update={**sent, "error": f"{type(exc).__name__}: {exc}"})
    answer = {"status": response.status_code, "response": _parsed(response.text)}
    return draft.model_copy(update={**sent, **answer})


def _parsed(text: Any) -> Any:
    """A JSON text's value; anything else as it came."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
