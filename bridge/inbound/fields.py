"""The fields bridge reads from each inbound payload, their types and their rules.

``bridge.inbound.payloads`` turns payloads into Turns assuming every field it reads has
the right type and a sane value. This module makes that true at the door: ``checked``
walks a payload (already parsed by ``sanitize.read_json``) along a spec and returns a
copy whose known fields are valid and clean, or raises ``InboundError(400)`` naming the
field (``text.content must be a string``, ``sessionWebhook host evil.example is not on
the allow-list``). Fields a spec does not name pass through untouched (their strings
are already clean); ``null`` counts as absent.

A spec is a dict (an object and the specs of its keys), a one-element list (a list
whose items follow the spec), a tuple (alternatives, the first that fits wins) or a
leaf: one of the ``Leaf`` values below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bridge.errors import InboundError
from bridge.inbound.sanitize import (
    MAX_TEXT_CHARS,
    MAX_TOKEN_CHARS,
    check_epoch_ms,
    check_id,
    check_url,
    clean_line,
    clean_text,
)

__all__ = ["ACTION", "BOT_MESSAGE", "FRAME_HEADERS", "GRAPH_REQUEST", "PUSH", "Leaf", "checked"]


class Leaf(Enum):
    """What one field must be."""

    STR = "a string"
    ID = "an id"
    TOKEN = "a token"
    URL = "a URL"
    TEXT = "message text"
    NAME = "a name"
    INT = "an integer"
    EPOCH_MS = "epoch milliseconds"
    OBJECT = "an object"


Spec = Leaf | dict[str, "Spec"] | list["Spec"] | tuple["Spec", ...]

_TYPES: dict[Leaf, tuple[type, ...]] = {
    Leaf.STR: (str,),
    Leaf.ID: (str,),
    Leaf.TOKEN: (str,),
    Leaf.URL: (str,),
    Leaf.TEXT: (str,),
    Leaf.NAME: (str,),
    Leaf.INT: (int,),
    Leaf.EPOCH_MS: (int, float),
    Leaf.OBJECT: (dict,),
}

_RICH_TEXT_PIECE: Spec = {
    "text": Leaf.TEXT,
    "type": Leaf.STR,
    "downloadCode": Leaf.TOKEN,
    "pictureDownloadCode": Leaf.TOKEN,
    "atName": Leaf.NAME,
}

BOT_MESSAGE: Spec = {
    "conversationId": Leaf.ID,
    "conversationType": (Leaf.STR, Leaf.INT),
    "conversationTitle": Leaf.NAME,
    "msgId": Leaf.ID,
    "msgtype": Leaf.STR,
    "text": {"content": Leaf.TEXT},
    # Non-text messages carry an object; a doc sample shows a string (§9.10).
    "content": (
        {
            "richText": [_RICH_TEXT_PIECE],
            "recognition": Leaf.TEXT,
            "downloadCode": Leaf.TOKEN,
            "pictureDownloadCode": Leaf.TOKEN,
            "fileName": Leaf.NAME,
            "videoType": Leaf.NAME,
        },
        Leaf.TEXT,
    ),
    "senderStaffId": Leaf.ID,
    "senderUnionId": Leaf.ID,
    "senderNick": Leaf.NAME,
    "robotCode": Leaf.ID,
    "atUsers": [{"dingtalkId": Leaf.STR, "staffId": Leaf.STR, "unionId": Leaf.STR}],
    "sessionWebhook": Leaf.URL,
    "sessionWebhookExpiredTime": Leaf.EPOCH_MS,
}
"""A robot ChatbotMessage (``dingtalk-api.md`` §6.3, §11): the fields bridge reads.

Fields it does not read are not judged: a platform change there must not refuse messages.
"""

ACTION: Spec = {
    "rawInput": Leaf.TEXT,
    "userId": Leaf.ID,
    "unionId": Leaf.ID,
    "corpId": Leaf.ID,
    "openConversationId": Leaf.ID,
    "conversationToken": Leaf.TOKEN,
    "sessionWebhook": Leaf.URL,
    "msgId": Leaf.ID,
    "inputAttribute": (Leaf.OBJECT, Leaf.STR),
}
"""An AI action's parameters, under the names bridge's action YAML fixes (§6.5)."""

GRAPH_REQUEST: Spec = {"requestLine": Leaf.OBJECT, "headers": Leaf.OBJECT, "body": Leaf.STR}
"""The graph envelope of a Stream action frame; ``body`` is the parameters' JSON."""

PUSH: Spec = {"to": Leaf.STR, "prompt": Leaf.TEXT, "assistant": Leaf.STR}
"""``POST /v1/push``."""

FRAME_HEADERS: Spec = {"messageId": Leaf.ID, "topic": Leaf.STR}
"""A Stream frame's ``headers`` (§6.2)."""


@dataclass(frozen=True, slots=True)
class Rules:
    """What a check needs besides the spec: the hosts reply URLs may point to."""

    reply_hosts: tuple[str, ...] = ()


def checked(data: Mapping[str, Any], spec: Spec, rules: Rules, *, where: str = "") -> Any:
    """A copy of ``data`` whose fields named by ``spec`` are valid and clean; 400 otherwise.

    ``where`` prefixes field names in error messages (``action body``).
    """
    try:
        return _check(data, spec, rules, where)
    except _FieldError as exc:
        raise InboundError(str(exc), status=400) from None


class _FieldError(ValueError):
    pass


def _check(value: Any, spec: Spec, rules: Rules, path: str) -> Any:
    if value is None:
        return None
    if isinstance(spec, tuple):
        first: _FieldError | None = None
        for alternative in spec:
            try:
                return _check(value, alternative, rules, path)
            except _FieldError as exc:
                first = first or exc
        assert first is not None, "a tuple spec has alternatives"
        raise first
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _FieldError(f"{path or 'the payload'} must be an object")
        out = dict(value)
        for key, inner in spec.items():
            if key in value:
                out[key] = _check(value[key], inner, rules, f"{path}.{key}" if path else key)
        return out
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise _FieldError(f"{path} must be a list")
        return [_check(item, spec[0], rules, f"{path}[{i}]") for i, item in enumerate(value)]
    return _leaf(value, spec, rules, path)


def _leaf(value: Any, leaf: Leaf, rules: Rules, path: str) -> Any:
    # JSON's true and false are Python ints too: never a number here.
    if not isinstance(value, _TYPES[leaf]) or isinstance(value, bool):
        raise _FieldError(f"{path} must be {leaf.value}")
    try:
        if isinstance(value, str):
            return _string(value, leaf, rules)
        if leaf is Leaf.EPOCH_MS and isinstance(value, int | float):
            return check_epoch_ms(value)
    except ValueError as exc:
        raise _FieldError(f"{path} {exc}") from None
    return value


def _string(value: str, leaf: Leaf, rules: Rules) -> str:
    if value == "":
        return value  # empty counts as absent, as payloads reads it
    if leaf is Leaf.ID:
        return check_id(value)
    if leaf is Leaf.TOKEN:
        return check_id(value, max_chars=MAX_TOKEN_CHARS)
    if leaf is Leaf.URL:
        return check_url(value, rules.reply_hosts)
    if leaf is Leaf.NAME:
        return clean_line(value)
    if leaf is Leaf.TEXT and len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"is longer than {MAX_TEXT_CHARS} characters")
    return clean_text(value)
