"""The Stream door: a bot or AI-action frame → a Turn, a card callback → a stop; the ACK.

``StreamClient`` (``stream``) speaks the protocol and hands each CALLBACK frame of
``TOPICS`` to a ``StreamDoor``, whose return value is the frame's ACK:

- ``BOT_TOPIC`` (``/v1.0/im/bot/messages/get``): ``data`` is a robot ChatbotMessage
  (``shared/dingtalk-api.md`` §6.3). The ACK's data is ``{"response": null}``.
- ``ACTION_TOPIC`` (``/v1.0/graph/api/invoke``): ``data`` is a graph request whose
  ``body`` is the JSON string of the action's parameters (§6.5). The ACK carries the
  action's HTTP response: ``{"response": {"statusLine", "headers", "body"}}`` with
  status 200 and the body ``{"accepted": true}``; the answer itself streams later.
- ``CARD_TOPIC`` (``/v1.0/card/instances/callback``): a card's button was pressed
  (§13); the stop button's press goes to ``stop`` (``bridge.inbound.card_callback``)
  and the ACK's data is ``{"response": {"success": true}}``, sent at once.

The frame's data is read bounded and checked field by field (``sanitize``, ``fields``):
wrong types, bad ids, reply URLs off the allow-list and absurd numbers are an
``InboundError`` (400) naming the field; the client ACKs it with that code and nothing
else happens. A valid Turn is handed to ``accept`` (the pipeline) before the ACK goes
out. One the pipeline cannot take now (busy) gets the one-shot ``busy`` reply through
its sessionWebhook and an ACK 200 when it has a usable one (``bridge.inbound.busy``
says why), else an ACK 429; while shutting down, an ACK 503.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bridge.admission import Admission, Outcome
from bridge.errors import InboundError
from bridge.inbound.boundary import learn
from bridge.inbound.busy import BusyNotice
from bridge.inbound.card_callback import ACK, CARD_TOPIC, Stop, pressed, read_card_callback
from bridge.inbound.fields import ACTION, BOT_MESSAGE, GRAPH_REQUEST, Rules, checked
from bridge.inbound.payloads import turn_from_action, turn_from_bot_message
from bridge.inbound.sanitize import read_json
from bridge.inbound.stream import Frame, Reply
from bridge.turn import Turn

__all__ = [
    "ACTION_TOPIC",
    "BOT_TOPIC",
    "CARD_TOPIC",
    "TOPICS",
    "StreamDoor",
    "action_response",
    "read_frame",
]

log = logging.getLogger(__name__)

BOT_TOPIC = "/v1.0/im/bot/messages/get"
ACTION_TOPIC = "/v1.0/graph/api/invoke"
TOPICS = (BOT_TOPIC, ACTION_TOPIC, CARD_TOPIC)

Accept = Callable[[Turn], Awaitable[Admission]]


def action_response(body: dict[str, Any]) -> dict[str, Any]:
    """The HTTP response an AI action returns inside its ACK (§6.5)."""
    return {
        "statusLine": {"code": 200, "reasonPhrase": "OK"},
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def read_frame(
    frame: Frame,
    *,
    assistant: str,
    robot_code: str | None,
    received_at: float,
    reply_hosts: tuple[str, ...],
    display_names: Sequence[str] = (),
) -> tuple[Turn, Reply]:
    """The Turn a bot or action frame carries, and the ACK that accepts it.

    The data is read bounded and its fields checked, reply URLs against ``reply_hosts``.

    ``robot_code`` is the assistant's, used when the frame names none (actions never do);
    ``display_names`` are the names its @mentions use (``bridge.inbound.mentions``).
    """
    data = read_json(frame.data, "frame data")
    rules = Rules(reply_hosts=reply_hosts)
    if frame.topic == BOT_TOPIC:
        turn = turn_from_bot_message(
            checked(data, BOT_MESSAGE, rules),
            assistant=assistant,
            source="stream_bot",
            received_at=received_at,
            frame_id=frame.message_id,
            robot_code=robot_code,
            display_names=display_names,
        )
        return turn, Reply()
    if frame.topic != ACTION_TOPIC:
        raise InboundError(f"topic {frame.topic!r} is not supported", status=404)
    # The graph request's body is the action's parameters as a JSON string; a frame
    # that carries the parameters themselves is read as they are.
    body = checked(data, GRAPH_REQUEST, rules).get("body")
    params = read_json(body, "action body") if isinstance(body, str) else data
    turn = turn_from_action(
        checked(params, ACTION, rules),
        assistant=assistant,
        source="stream_action",
        received_at=received_at,
        frame_id=frame.message_id,
        robot_code=robot_code,
        display_names=display_names,
    )
    return turn, Reply(data={"response": action_response({"accepted": True})})


class StreamDoor:
    """The frame handler of one assistant's Stream connection (of ``TOPICS``).

    ``busy`` tells a sender to come back later when the pipeline is full (``busy``);
    ``stop`` takes the stop button's presses (None: they are answered and ignored).
    """

    def __init__(
        self,
        *,
        assistant: str,
        robot_code: str | None,
        accept: Accept,
        reply_hosts: tuple[str, ...],
        busy: BusyNotice | None = None,
        clock: Callable[[], float] = time.time,
        display_names: Sequence[str] = (),
        stop: Stop | None = None,
    ) -> None:
        self._assistant = assistant
        self._stop = stop
        self._robot_code = robot_code
        self._display_names = tuple(display_names)
        self._accept = accept
        self._reply_hosts = reply_hosts
        self._busy = busy
        self._clock = clock

    async def __call__(self, frame: Frame) -> Reply:
        """Turn ``frame`` into work for ``accept``; the return value is its ACK."""
        if frame.topic == CARD_TOPIC:
            action = read_card_callback(read_json(frame.data, "frame data"))
            if self._stop is not None:
                await pressed(action, self._stop)
            return Reply(data={"response": ACK})
        turn, reply = read_frame(
            frame,
            assistant=self._assistant,
            robot_code=self._robot_code,
            received_at=self._clock(),
            reply_hosts=self._reply_hosts,
            display_names=self._display_names,
        )
        learn(turn)
        admission = await self._accept(turn)
        if admission.outcome is Outcome.BUSY:
            return await self._busy_reply(turn, admission, reply)
        if admission.outcome in (Outcome.CLOSED, Outcome.UNAVAILABLE):
            raise InboundError(admission.reason or "bridge is shutting down", status=503)
        return reply

    async def _busy_reply(self, turn: Turn, admission: Admission, accepted: Reply) -> Reply:
        """ACK 200 once the busy text went out through the Turn's webhook; else a 429."""
        reason = admission.reason or "too many messages waiting"
        if self._busy is not None and await self._busy(turn):
            log.info("busy (%s): %s told to ask again later", reason, turn.conversation_key)
            if turn.source == "stream_action":
                busy = action_response({"accepted": False, "busy": True})
                return Reply(data={"response": busy})
            return accepted
        raise InboundError(reason, status=429)
