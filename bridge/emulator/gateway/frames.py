"""Stream-mode frames on the wire (contract §6.2): building what the gateway sends, reading ACKs.

Pure functions, no I/O and no clock: the gateway state (``hub``) passes the time in.
Frames follow the contract exactly: ``specVersion``, ``type``, ``headers`` (``appId``,
``connectionId``, ``contentType``, ``messageId``, ``time`` as a string of epoch ms,
``topic``) and ``data``, which is always a JSON **string**. Message ids look like the
platform's (``212ca9d7_974_1898c159aa6_1783b``) and are never reused.
"""

from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass
from typing import Any

BOT_TOPIC = "/v1.0/im/bot/messages/get"
ACTION_TOPIC = "/v1.0/graph/api/invoke"
ACTION_URI = "/v1/actions/answer"
PING = "ping"
DISCONNECT = "disconnect"

_ids = itertools.count(1)


def new_message_id(now_ms: int) -> str:
    """A fresh frame ``messageId`` in the platform's shape."""
    return f"{secrets.token_hex(4)}_{next(_ids)}_{now_ms:x}_{secrets.token_hex(3)}"


def frame_text(
    *,
    kind: str,
    topic: str,
    message_id: str,
    app_id: str,
    connection_id: str,
    now_ms: int,
    data: str,
) -> str:
    """One frame as the JSON text the gateway sends."""
    return json.dumps(
        {
            "specVersion": "1.0",
            "type": kind,
            "headers": {
                "appId": app_id,
                "connectionId": connection_id,
                "contentType": "application/json",
                "messageId": message_id,
                "time": str(now_ms),
                "topic": topic,
            },
            "data": data,
        },
        ensure_ascii=False,
    )


def callback_data(topic: str, payload: dict[str, Any]) -> str:
    """The ``data`` string of a CALLBACK frame carrying an inbound message on ``topic``.

    The bot topic carries the ChatbotMessage itself; the AI-assistant topic carries a
    graph request whose ``body`` is the JSON string of the action parameters (§6.5).
    """
    if topic == ACTION_TOPIC:
        graph = {
            "requestLine": {"method": "POST", "uri": ACTION_URI},
            "headers": {"content-type": "application/json"},
            "body": json.dumps(payload, ensure_ascii=False),
        }
        return json.dumps(graph, ensure_ascii=False)
    return json.dumps(payload, ensure_ascii=False)


def ping_data() -> str:
    """The ``data`` of a SYSTEM ping: an opaque token the client must echo."""
    return json.dumps({"opaque": secrets.token_hex(8)})


def disconnect_data(reason: str) -> str:
    """The ``data`` of a SYSTEM disconnect."""
    return json.dumps({"reason": reason}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Ack:
    """A client's text read as an ACK; ``error`` is set when it is not a well-formed one."""

    message_id: str | None
    code: int | None = None
    message: str | None = None
    data: Any = None
    error: str | None = None


def parse_ack(text: str) -> Ack:
    """Read ``{"code", "headers": {"messageId"}, "message", "data"}`` leniently.

    Whatever can be read is kept, so the control API shows what a broken client sent.
    """
    try:
        value = json.loads(text)
    except ValueError:
        return Ack(None, error="not JSON")
    if not isinstance(value, dict):
        return Ack(None, error="not a JSON object")
    headers = value.get("headers")
    raw_id = headers.get("messageId") if isinstance(headers, dict) else None
    message_id = raw_id if isinstance(raw_id, str) and raw_id else None
    code = value.get("code")
    message = value.get("message")
    ack = Ack(
        message_id,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        message=message if isinstance(message, str) else None,
        data=value.get("data"),
    )
    if message_id is None:
        return _with_error(ack, "no headers.messageId")
    if ack.code is None:
        return _with_error(ack, "no integer code")
    if not isinstance(ack.data, str):
        return _with_error(ack, "data is not a JSON string")
    return ack


def _with_error(ack: Ack, error: str) -> Ack:
    return Ack(ack.message_id, ack.code, ack.message, ack.data, error)


def echoes(sent: str, received: Any) -> bool:
    """Whether an ACK's ``data`` echoes a ping's ``data`` (the same JSON value)."""
    if not isinstance(received, str):
        return False
    if received == sent:
        return True
    try:
        return bool(json.loads(received) == json.loads(sent))
    except ValueError:
        return False


def message_id_in(text: str) -> str | None:
    """The ``headers.messageId`` of an arbitrary (injected) text, if it has one."""
    try:
        value = json.loads(text)
        found = value["headers"]["messageId"]
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


def topic_in(text: str) -> str:
    """The ``headers.topic`` of an arbitrary (injected) text, or ``""``."""
    try:
        found = json.loads(text)["headers"]["topic"]
    except (ValueError, KeyError, TypeError):
        return ""
    return found if isinstance(found, str) else ""
