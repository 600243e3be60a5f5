"""The Turn: one normalized request for an answer, whatever door it came through.

Every inbound adapter (Stream bot message, Stream AI-assistant action, HTTP callback,
push API, ``bridge send``) turns its raw payload into a ``Turn`` and nothing else: no raw
dicts travel past the adapters. A Turn says who asked, where, what, and carries every
reply handle the platform gave (webhooks with their expiry, the conversationToken, the
ids proactive sends need), so the router can pick a surface the message can really use.

A message with media (a picture, a rich text with pictures, a file, a video) keeps its
pieces in order in ``Turn.parts``: text and ``Media`` (what it is, the temporary
``downloadCode`` that fetches it, its file name or video type). ``Turn.text`` is then
the message as text, each medium replaced by its placeholder ("看这个[图片]"): what the
history keeps and what a model that cannot see is given. A plain text message (and a
voice message, which DingTalk hands over as its recognized text) has no parts. The
media themselves are fetched only when the Turn is answered (``bridge.conversation.media``).

``Turn.to_json`` / ``Turn.from_json`` round-trip a Turn exactly (every string, lone
surrogates included, every float): the Turn journal stores accepted Turns this way so a
restarted process answers the very same request. The JSON is ASCII (``\\u`` escapes), so
any store can hold it as text. ``from_json`` checks every field and raises ``ValueError``
for anything else, such as an entry written by a future version. ``parts`` came after
version 1 was fixed: an entry without them reads as a Turn without parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args


class MediaKind(StrEnum):
    """What a medium of a message is (``msgtype`` of DingTalk's robot messages, §11)."""

    PICTURE = "picture"
    AUDIO = "audio"
    VIDEO = "video"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Media:
    """One medium of a message: its kind, the code that fetches it, and a name.

    ``download_code`` is DingTalk's temporary ``downloadCode`` (None when the message
    carried none, as an AI action's context does); ``name`` is a file's name or a video's
    type (``mp4``), empty otherwise.
    """

    kind: MediaKind
    download_code: str | None = None
    name: str = ""

    @property
    def placeholder(self) -> str:
        """The medium as text, for the history and for a model that cannot see it."""
        label = _LABELS[self.kind]
        return f"[{label}: {self.name}]" if self.name else f"[{label}]"


_LABELS = {
    MediaKind.PICTURE: "图片",
    MediaKind.AUDIO: "语音",
    MediaKind.VIDEO: "视频",
    MediaKind.FILE: "文件",
}

Part = str | Media
"""A piece of a message in order: text as written, or a medium."""


def text_of(parts: tuple[Part, ...]) -> str:
    """``parts`` as one text, each medium replaced by its placeholder."""
    return "".join(p if isinstance(p, str) else p.placeholder for p in parts)


class ConversationType(StrEnum):
    """Where the message was written (single chat, group, or the magic wand)."""

    SINGLE = "single"
    GROUP = "group"
    MAGIC_WAND = "magic_wand"


Source = Literal["stream_bot", "stream_action", "http_bot", "http_action", "push"]
SOURCES: tuple[Source, ...] = get_args(Source)

# Bumped when the JSON form changes; an entry with another version is refused, not guessed.
JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class Webhook:
    """A sessionWebhook: the URL is its own credential and it expires."""

    url: str
    expires_at: float | None  # epoch seconds; None when the platform did not say

    def usable(self, now: float, *, margin: float = 0.0) -> bool:
        """True while the webhook is still valid ``margin`` seconds from ``now``."""
        return self.expires_at is None or now + margin < self.expires_at


@dataclass(frozen=True, slots=True)
class ReplyHandles:
    """Everything the platform handed over that can carry an answer back."""

    conversation_token: str | None = None
    robot_webhook: Webhook | None = None
    ai_webhook: Webhook | None = None
    union_id: str | None = None
    open_conversation_id: str | None = None
    conversation_id: str | None = None
    staff_id: str | None = None
    robot_code: str | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """Who asked."""

    staff_id: str | None
    union_id: str | None
    nick: str


@dataclass(frozen=True, slots=True)
class Turn:
    """One request for an answer."""

    assistant: str
    source: Source
    conversation_type: ConversationType
    conversation_key: str
    conversation_title: str
    sender: Sender
    text: str
    handles: ReplyHandles
    received_at: float
    delivery_ids: tuple[str, ...] = ()
    parts: tuple[Part, ...] = ()

    @property
    def pictures(self) -> tuple[Media, ...]:
        """The pictures among ``parts``, in order."""
        return tuple(p for p in self.parts if isinstance(p, Media) and p.kind is MediaKind.PICTURE)

    @property
    def proactive(self) -> bool:
        """True for pushes: there is no chat message to reply to."""
        return self.source == "push"

    def to_json(self) -> str:
        """This Turn as JSON text; ``Turn.from_json`` gives back an equal Turn."""
        handles = self.handles
        data = {
            "v": JSON_VERSION,
            "assistant": self.assistant,
            "source": self.source,
            "conversation_type": self.conversation_type.value,
            "conversation_key": self.conversation_key,
            "conversation_title": self.conversation_title,
            "sender": {
                "staff_id": self.sender.staff_id,
                "union_id": self.sender.union_id,
                "nick": self.sender.nick,
            },
            "text": self.text,
            "handles": {
                "conversation_token": handles.conversation_token,
                "robot_webhook": _webhook_json(handles.robot_webhook),
                "ai_webhook": _webhook_json(handles.ai_webhook),
                "union_id": handles.union_id,
                "open_conversation_id": handles.open_conversation_id,
                "conversation_id": handles.conversation_id,
                "staff_id": handles.staff_id,
                "robot_code": handles.robot_code,
            },
            "received_at": self.received_at,
            "delivery_ids": list(self.delivery_ids),
            "parts": [_part_json(p) for p in self.parts],
        }
        # allow_nan=False: NaN would not compare equal after the trip; no Turn has one.
        return json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Turn:
        """The Turn ``to_json`` wrote; ``ValueError`` when ``text`` is not one."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a journaled Turn is not JSON: {exc}") from exc
        read = _Reader(data, "turn")
        if read.field("v", int) != JSON_VERSION:
            raise ValueError(f"a journaled Turn has version {data.get('v')!r}, not {JSON_VERSION}")
        source = read.field("source", str)
        if source not in SOURCES:
            raise ValueError(f"a journaled Turn has an unknown source {source!r}")
        sender = _Reader(read.field("sender", dict), "turn.sender")
        handles = _Reader(read.field("handles", dict), "turn.handles")
        ids = read.field("delivery_ids", list)
        if not all(isinstance(i, str) for i in ids):
            raise ValueError("turn.delivery_ids must be strings")
        parts = read.optional("parts", list) or []
        return cls(
            assistant=read.field("assistant", str),
            source=source,
            conversation_type=ConversationType(read.field("conversation_type", str)),
            conversation_key=read.field("conversation_key", str),
            conversation_title=read.field("conversation_title", str),
            sender=Sender(
                staff_id=sender.optional("staff_id", str),
                union_id=sender.optional("union_id", str),
                nick=sender.field("nick", str),
            ),
            text=read.field("text", str),
            handles=ReplyHandles(
                conversation_token=handles.optional("conversation_token", str),
                robot_webhook=_webhook(handles.optional("robot_webhook", dict)),
                ai_webhook=_webhook(handles.optional("ai_webhook", dict)),
                union_id=handles.optional("union_id", str),
                open_conversation_id=handles.optional("open_conversation_id", str),
                conversation_id=handles.optional("conversation_id", str),
                staff_id=handles.optional("staff_id", str),
                robot_code=handles.optional("robot_code", str),
            ),
            received_at=read.number("received_at"),
            delivery_ids=tuple(ids),
            parts=tuple(_part(p) for p in parts),
        )


def _part_json(part: Part) -> dict[str, Any]:
    if isinstance(part, str):
        return {"text": part}
    return {"kind": part.kind.value, "download_code": part.download_code, "name": part.name}


def _part(data: object) -> Part:
    read = _Reader(data, "turn.parts[]")
    if read.has("text"):
        text: str = read.field("text", str)
        return text
    kind = read.field("kind", str)
    try:
        media_kind = MediaKind(kind)
    except ValueError:
        raise ValueError(f"turn.parts[] has an unknown kind {kind!r}") from None
    return Media(
        kind=media_kind,
        download_code=read.optional("download_code", str),
        name=read.field("name", str),
    )


def _webhook_json(webhook: Webhook | None) -> dict[str, Any] | None:
    if webhook is None:
        return None
    return {"url": webhook.url, "expires_at": webhook.expires_at}


def _webhook(data: dict[str, Any] | None) -> Webhook | None:
    if data is None:
        return None
    read = _Reader(data, "webhook")
    expires = data.get("expires_at")
    return Webhook(
        url=read.field("url", str),
        expires_at=None if expires is None else read.number("expires_at"),
    )


class _Reader:
    """Typed access to one JSON object, naming the field that is wrong."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be an object")
        self._data: dict[str, Any] = data
        self._where = where

    def field(self, name: str, kind: type[Any]) -> Any:
        value = self._data.get(name)
        # bool is an int to isinstance; no field of a Turn is a bool.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{self._where}.{name} must be a {kind.__name__}")
        return value

    def has(self, name: str) -> bool:
        return name in self._data

    def optional(self, name: str, kind: type[Any]) -> Any:
        return None if self._data.get(name) is None else self.field(name, kind)

    def number(self, name: str) -> float:
        value = self._data.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"{self._where}.{name} must be a number")
        return value
