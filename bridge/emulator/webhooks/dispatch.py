"""Delivering "user U says TEXT in conversation C" to the app: Stream frame or HTTP callback.

The control API's ``POST /_emulator/inbound`` records the message (``Emulator.inbound``)
and then asks ``dispatch`` to hand it to the app the way DingTalk would:

- **door** (``as``): ``robot`` (the ChatbotMessage; bot topic or robot callback URL) or
  ``action`` (the AI-assistant action; graph topic or action URL). Default: robot in a
  single chat or group, action in the magic wand, which has no robot.
- **how** (``deliver``): ``stream`` to the app's newest live connection subscribed to
  the door's topic, ``http`` to the callback URL registered for the door, or ``none``.
  Default: stream if such a connection is live, else http if a URL is registered, else
  none (the caller still gets the payloads back). A group message that does not
  @-mention the bot is never delivered, as on the platform (§11: in a group only
  mentions arrive): its default is none, and asking for more is refused.
- **variant**: ``ok`` or a deliberately spoiled callback (see ``poster``); over Stream
  only ``off_host`` makes sense (raw frame injection covers malformed frames).
"""

from __future__ import annotations

from typing import Any

import httpx2

from bridge.emulator.control.views import CallbackDoor, CallbackVariant, DeliverHow, DispatchView
from bridge.emulator.errors import EmulatorError
from bridge.emulator.gateway.frames import ACTION_TOPIC, BOT_TOPIC, callback_data
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.inbound import Inbound
from bridge.emulator.webhooks.poster import build_request, off_host, post

CALLBACK_TIMEOUT = 10.0
"""Seconds the poster waits for the receiver of an HTTP callback."""


def topic_of(door: CallbackDoor) -> str:
    """The Stream topic a door's messages travel on."""
    return ACTION_TOPIC if door == "action" else BOT_TOPIC


def choose_door(inbound: Inbound, door: CallbackDoor | None) -> CallbackDoor:
    """The door asked for, or the default for the conversation type."""
    if door is None:
        return "action" if inbound.conversation.type == "magic_wand" else "robot"
    if door == "robot" and inbound.conversation.type == "magic_wand":
        raise EmulatorError("the magic wand has no robot: deliver it as an action")
    return door


def choose_how(emulator: Emulator, inbound: Inbound, door: CallbackDoor) -> DeliverHow:
    """Stream if the app listens on the topic, else HTTP if it registered a URL."""
    if _unheard(inbound):
        return "none"
    client_id = inbound.app.client_id
    if emulator.stream.live(client_id, topic_of(door)):
        return "stream"
    if emulator.callbacks.registration(client_id).url(door) is not None:
        return "http"
    return "none"


def _unheard(inbound: Inbound) -> bool:
    """A group message the bot is not mentioned in: DingTalk does not deliver it."""
    return inbound.conversation.type == "group" and not inbound.mentioned


def payload_of(inbound: Inbound, door: CallbackDoor, variant: CallbackVariant) -> dict[str, Any]:
    """What the door carries: the ChatbotMessage or the action parameters."""
    if door == "action" and inbound.ai_session is None:
        raise EmulatorError(f"app {inbound.app.client_id!r} is a robot: it has no actions")
    payload: dict[str, Any] = (
        dict(inbound.action_params()) if door == "action" else inbound.chatbot_message()
    )
    if variant == "off_host" and payload.get("sessionWebhook"):
        payload["sessionWebhook"] = off_host(str(payload["sessionWebhook"]))
    return payload


async def dispatch(
    emulator: Emulator,
    inbound: Inbound,
    *,
    how: DeliverHow | None = None,
    door: CallbackDoor | None = None,
    variant: CallbackVariant = "ok",
) -> DispatchView:
    """Deliver ``inbound``; the answer says how (frame and delivery, or the callback)."""
    chosen_door = choose_door(inbound, door)
    chosen = how or choose_how(emulator, inbound, chosen_door)
    if chosen != "none" and _unheard(inbound):
        raise EmulatorError("in a group, DingTalk delivers only messages that @-mention the bot")
    if chosen == "none":
        return DispatchView(how="none", door=chosen_door)
    if chosen == "stream":
        if variant not in ("ok", "off_host"):
            raise EmulatorError(f"variant {variant!r} applies to HTTP callbacks only")
        payload = payload_of(inbound, chosen_door, variant)
        topic = topic_of(chosen_door)
        data = callback_data(topic, payload)
        delivery, frame = emulator.stream.deliver(
            inbound.app.client_id, topic, inbound.message.id, data
        )
        return DispatchView(how="stream", door=chosen_door, delivery=delivery.view(), frame=frame)
    registration = emulator.callbacks.registration(inbound.app.client_id)
    request = build_request(
        registration,
        chosen_door,
        payload_of(inbound, chosen_door, "ok"),
        variant=variant,
        secret=inbound.app.client_secret,
        now_ms=emulator.clock.now_ms(),
    )
    async with httpx2.AsyncClient(timeout=CALLBACK_TIMEOUT, trust_env=False) as client:
        answer = await post(client, request)
    callback = emulator.callbacks.record(inbound.app.client_id, request, answer)
    return DispatchView(how="http", door=chosen_door, callback=callback)
