"""The Stream door: a frame of the bot topic or the AI-action topic → a Turn, and its ACK.

``StreamClient`` (``stream``) speaks the protocol and hands each CALLBACK frame of
``TOPICS`` to a ``StreamDoor``, whose return value is the frame's ACK:

- ``BOT_TOPIC`` (``/v1.0/im/bot/messages/get``): ``data`` is a robot ChatbotMessage
  (``shared/dingtalk-api.md`` §6.3). The ACK's data is ``{"response": null}``.
- ``ACTION_TOPIC`` (``/v1.0/graph/api/invoke``): ``data`` is a graph request whose
  ``body`` is the JSON string of the action's parameters (§6.5). The ACK carries the
  action's HTTP response: ``{"response": {"statusLine", "headers", "body"}}`` with
  status 200 and the body ``{"accepted": true}``; the answer itself streams later.

A frame that cannot be read is an ``InboundError`` (400): the client ACKs it with that
code and nothing else happens. An accepted Turn is checked against the reply-host
allow-list and handed to ``accept`` (the pipeline) before the ACK goes out; a Turn it
does not take (busy, shutting down) is ACKed with the refusal's code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.admission import Admission
from bridge.errors import InboundError
from bridge.inbound.payloads import (
    check_reply_hosts,
    parse_json_object,
    require_taken,
    turn_from_action,
    turn_from_bot_message,
)
from bridge.inbound.stream import Frame, Reply
from bridge.turn import Turn

__all__ = ["ACTION_TOPIC", "BOT_TOPIC", "TOPICS", "StreamDoor", "action_response", "read_frame"]

BOT_TOPIC = "/v1.0/im/bot/messages/get"
ACTION_TOPIC = "/v1.0/graph/api/invoke"
TOPICS = (BOT_TOPIC, ACTION_TOPIC)

Accept = Callable[[Turn], Awaitable[Admission]]


def action_response(body: dict[str, Any]) -> dict[str, Any]:
    """The HTTP response an AI action returns inside its ACK (§6.5)."""
    return {
        "statusLine": {"code": 200, "reasonPhrase": "OK"},
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def read_frame(
    frame: Frame, *, assistant: str, robot_code: str | None, received_at: float
) -> tuple[Turn, Reply]:
    """The Turn a bot or action frame carries, and the ACK that accepts it.

    ``robot_code`` is the assistant's, used when the frame names none (actions never do).
    """
    data = parse_json_object(frame.data, "frame data")
    if frame.topic == BOT_TOPIC:
        turn = turn_from_bot_message(
            data,
            assistant=assistant,
            source="stream_bot",
            received_at=received_at,
            frame_id=frame.message_id,
            robot_code=robot_code,
        )
        return turn, Reply()
    if frame.topic != ACTION_TOPIC:
        raise InboundError(f"topic {frame.topic!r} is not supported", status=404)
    # The graph request's body is the action's parameters as a JSON string; a frame
    # that carries the parameters themselves is read as they are.
    body = data.get("body")
    params = parse_json_object(body, "action body") if isinstance(body, str) else data
    turn = turn_from_action(
        params,
        assistant=assistant,
        source="stream_action",
        received_at=received_at,
        frame_id=frame.message_id,
        robot_code=robot_code,
    )
    return turn, Reply(data={"response": action_response({"accepted": True})})


class StreamDoor:
    """The frame handler of one assistant's Stream connection (of ``TOPICS``)."""

    def __init__(
        self,
        *,
        assistant: str,
        robot_code: str | None,
        accept: Accept,
        reply_hosts: tuple[str, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._assistant = assistant
        self._robot_code = robot_code
        self._accept = accept
        self._reply_hosts = reply_hosts
        self._clock = clock

    async def __call__(self, frame: Frame) -> Reply:
        """Turn ``frame`` into work for ``accept``; the return value is its ACK."""
        turn, reply = read_frame(
            frame,
            assistant=self._assistant,
            robot_code=self._robot_code,
            received_at=self._clock(),
        )
        check_reply_hosts(turn, self._reply_hosts)
        require_taken(await self._accept(turn))
        return reply
