"""Inbound payloads → ``Turn``: the one place raw DingTalk message JSON is read.

Two payloads arrive, through the Stream WebSocket or an HTTP callback alike:

- a robot **ChatbotMessage** (``shared/dingtalk-api.md`` §6.3): conversation, sender,
  text, and the robot's sessionWebhook with its expiry. Its ``conversationId`` is the
  group's openConversationId in a group; in a single chat it is no openConversationId,
  so such a Turn carries none and a proactive send reaches the user by ``senderUnionId``
  (the seed: a single chat is addressed by the user's unionId). Text comes from
  ``text.content``, or from a top-level ``content`` string as one official HTTP-mode
  sample shows it (§9.10: every documented form is accepted). Other message types
  (§11) become text and media in order (``Turn.parts``; ``Turn.text`` holds a
  placeholder per medium): a picture, a rich text's text and pictures, a video (its
  type), a file (its name), each with its ``downloadCode``; a voice message is its
  recognized text (``content.recognition``), "[语音]" without one;
- an AI-assistant **action** in direct mode (§6.5): the parameters bridge's action YAML
  maps from ``x-dingtalk-context``, under the names the spec fixes: ``rawInput``,
  ``userId``, ``unionId``, ``corpId``, ``openConversationId``, ``conversationToken``,
  ``sessionWebhook``; optionally ``inputAttribute`` (``currentInput/attribute``,
  ``{"msgType": "text|picture|file"}``, an object or its JSON): an action about a
  picture or a file carries no download code, so that medium reaches the model as a
  placeholder after the text (``rawInput`` may then be empty).

In both, the assistant's own @mention is removed from the text (``mentions``, with the
assistant's ``display_names``).

**An action's conversation type is inferred**, because the context has no field for it
(nor the sender's name): no ``openConversationId`` is the magic wand (the context leaves
it empty outside IM), which only reply mode reaches; an ``openConversationId`` with an
@mention of the assistant in ``rawInput`` is a group (in a group the assistant hears
only mentions); an ``openConversationId`` without one is a single chat. A group whose
mention DingTalk removed before the action (undocumented), or an assistant without
``display_names``, is therefore taken for a single chat: it then gets the single-chat
prompt, while its answer still goes to the right place (reply mode, or the context's
own openConversationId, which reaches single chats and groups alike).

Anything malformed becomes an ``InboundError`` with status 400 that says which field is
wrong; the caller answers with that status and nothing else happens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.errors import InboundError
from bridge.inbound.mentions import bot_mentioned, strip_own_mentions, strip_own_mentions_in
from bridge.turn import (
    ConversationType,
    Media,
    MediaKind,
    Part,
    ReplyHandles,
    Sender,
    Source,
    Turn,
    Webhook,
    text_of,
)


def turn_from_bot_message(
    data: Mapping[str, Any],
    *,
    assistant: str,
    source: Source,
    received_at: float,
    frame_id: str | None = None,
    robot_code: str | None = None,
    display_names: Sequence[str] = (),
) -> Turn:
    """A Turn from a robot ChatbotMessage (the bot topic's ``data`` or a callback body).

    ``robot_code`` is the assistant's configured one, used when the message has none;
    ``display_names`` are the assistant's, whose @mention leaves the text.
    """
    conversation_id = _required_str(data, "conversationId")
    kind = data.get("conversationType")
    if kind not in ("1", "2", 1, 2):
        raise InboundError(
            f"conversationType must be '1' (single) or '2' (group), got {kind!r}", status=400
        )
    conversation_type = ConversationType.SINGLE if str(kind) == "1" else ConversationType.GROUP
    msg_id = _required_str(data, "msgId")
    parts = strip_own_mentions_in(
        _message_parts(data), display_names, mentioned=bot_mentioned(data)
    )
    webhook = None
    if data.get("sessionWebhook"):
        expires_ms = data.get("sessionWebhookExpiredTime")
        if expires_ms is not None and not isinstance(expires_ms, int | float):
            raise InboundError("sessionWebhookExpiredTime must be epoch milliseconds", status=400)
        webhook = Webhook(
            url=_required_str(data, "sessionWebhook"),
            expires_at=None if expires_ms is None else float(expires_ms) / 1000.0,
        )
    staff_id = _optional_str(data, "senderStaffId")
    union_id = _optional_str(data, "senderUnionId")
    single = conversation_type is ConversationType.SINGLE
    handles = ReplyHandles(
        robot_webhook=webhook,
        union_id=union_id if single else None,
        # A group's conversationId is its openConversationId; a single chat's is not.
        open_conversation_id=None if single else conversation_id,
        conversation_id=conversation_id,
        staff_id=staff_id,
        robot_code=_optional_str(data, "robotCode") or robot_code,
    )
    return Turn(
        assistant=assistant,
        source=source,
        conversation_type=conversation_type,
        conversation_key=conversation_id,
        conversation_title=_optional_str(data, "conversationTitle") or "",
        sender=Sender(
            staff_id=staff_id, union_id=union_id, nick=_optional_str(data, "senderNick") or ""
        ),
        text=text_of(parts),
        handles=handles,
        received_at=received_at,
        delivery_ids=tuple(i for i in (f"msg:{msg_id}", _frame_key(frame_id)) if i),
        parts=parts if any(isinstance(p, Media) for p in parts) else (),
    )


def turn_from_action(
    params: Mapping[str, Any],
    *,
    assistant: str,
    source: Source,
    received_at: float,
    frame_id: str | None = None,
    robot_code: str | None = None,
    display_names: Sequence[str] = (),
) -> Turn:
    """A Turn from an AI-assistant action's parameters (direct mode).

    The context names no robot: ``robot_code`` (the assistant's) goes into the handles.
    An @mention of one of ``display_names`` leaves the text and marks a group (the
    module docstring has the whole inference).
    """
    medium = _action_medium(params)
    raw = _optional_str(params, "rawInput") if medium else _required_str(params, "rawInput")
    # The context has no at-list: the assistant's @name in its own input is a mention.
    said = strip_own_mentions(raw or "", display_names, mentioned=True)
    parts: tuple[Part, ...] = ((said.text,) if said.text else ()) + medium
    text = text_of(parts)
    if not text:
        raise InboundError("rawInput is empty", status=400)
    user_id = _optional_str(params, "userId")
    union_id = _optional_str(params, "unionId")
    open_conversation_id = _optional_str(params, "openConversationId")
    token = _optional_str(params, "conversationToken")
    webhook_url = _optional_str(params, "sessionWebhook")
    if not (token or webhook_url or union_id or open_conversation_id):
        raise InboundError(
            "the action carries no way to answer: expected conversationToken, "
            "sessionWebhook, unionId or openConversationId",
            status=400,
        )
    conversation_type = _action_conversation_type(
        open_conversation_id, mentioned=said.found, reply_mode=bool(token or webhook_url)
    )
    key = open_conversation_id or f"wand:{union_id or user_id or _token_key(token)}"
    delivery = _optional_str(params, "msgId") or token
    return Turn(
        assistant=assistant,
        source=source,
        conversation_type=conversation_type,
        conversation_key=key,
        conversation_title="",
        sender=Sender(staff_id=user_id, union_id=union_id, nick=""),
        text=text,
        handles=ReplyHandles(
            conversation_token=token,
            ai_webhook=Webhook(url=webhook_url, expires_at=None) if webhook_url else None,
            union_id=union_id,
            open_conversation_id=open_conversation_id,
            staff_id=user_id,
            robot_code=robot_code,
        ),
        received_at=received_at,
        delivery_ids=tuple(
            i for i in (f"act:{delivery}" if delivery else "", _frame_key(frame_id)) if i
        ),
        parts=parts if medium else (),
    )


def _token_key(token: str | None) -> str:
    """A conversationToken as part of a key: its hash, since keys reach the state store
    and the logs, and the token itself is a credential that answers into the chat."""
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:16] if token else ""


def _action_conversation_type(
    open_conversation_id: str | None, *, mentioned: bool, reply_mode: bool
) -> ConversationType:
    """Where an action was written, from what its context holds (module docstring)."""
    if open_conversation_id:
        return ConversationType.GROUP if mentioned else ConversationType.SINGLE
    # Outside IM: the magic wand, unless nothing but a unionId can answer (a user).
    return ConversationType.MAGIC_WAND if reply_mode else ConversationType.SINGLE


_MEDIA_TYPES = {
    "picture": MediaKind.PICTURE,
    "audio": MediaKind.AUDIO,
    "video": MediaKind.VIDEO,
    "file": MediaKind.FILE,
}


def _message_parts(data: Mapping[str, Any]) -> list[Part]:
    """The message's text and media in order, as sent (the mention rule trims them)."""
    kind = data.get("msgtype", "text")
    content = data.get("content")
    if kind == "text":
        body = data.get("text")
        if isinstance(body, dict) and isinstance(body.get("content"), str):
            return [str(body["content"])]
        if isinstance(content, str):
            return [content]  # the top-level form of the HTTP-mode doc sample
        raise InboundError("text.content (or a top-level content) must be a string", status=400)
    if not isinstance(content, dict):
        raise InboundError(f"msgtype {kind!r} needs a content object", status=400)
    if kind == "richText":
        return [p for item in content.get("richText") or [] for p in _rich_piece(item)]
    if kind == "audio" and content.get("recognition"):
        return [str(content["recognition"])]  # DingTalk's own speech-to-text
    if kind in _MEDIA_TYPES:
        name = content.get("fileName") if kind == "file" else content.get("videoType")
        return [Media(_MEDIA_TYPES[kind], _download_code(content), str(name or ""))]
    raise InboundError(f"msgtype {kind!r} carries nothing bridge can answer", status=400)


def _rich_piece(item: object) -> list[Part]:
    """One item of ``content.richText``: text (no ``type``, or text/emoji), a picture, an
    @mention (``atName``); anything else is skipped."""
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    if kind == "picture":
        return [Media(MediaKind.PICTURE, _download_code(item))]
    if kind == "at" and item.get("atName"):
        return [f"@{item['atName']}"]
    text = item.get("text")
    return [text] if isinstance(text, str) and kind in (None, "text", "emoji") else []


def _download_code(content: Mapping[str, Any]) -> str | None:
    code = content.get("downloadCode") or content.get("pictureDownloadCode")
    return code if isinstance(code, str) and code else None


def _action_medium(params: Mapping[str, Any]) -> tuple[Media, ...]:
    """The picture or file an action's ``inputAttribute`` says it is about, if any."""
    attribute = params.get("inputAttribute")
    if isinstance(attribute, str) and attribute:
        try:
            attribute = json.loads(attribute)
        except ValueError:
            raise InboundError("inputAttribute must be an object or its JSON", status=400) from None
    if attribute is None or attribute == "":
        return ()
    if not isinstance(attribute, dict):
        raise InboundError("inputAttribute must be an object or its JSON", status=400)
    kind = _MEDIA_TYPES.get(str(attribute.get("msgType")))
    return (Media(kind),) if kind in (MediaKind.PICTURE, MediaKind.FILE) else ()


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InboundError(f"{key} must be a non-empty string", status=400)
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InboundError(f"{key} must be a string", status=400)
    return value


def _frame_key(frame_id: str | None) -> str:
    return f"frame:{frame_id}" if frame_id else ""
