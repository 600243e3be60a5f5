"""The Turn: one normalized request for an answer, whatever door it came through.

Every inbound adapter (Stream bot message, Stream AI-assistant action, HTTP callback,
push API, ``bridge send``) turns its raw payload into a ``Turn`` and nothing else: no raw
dicts travel past the adapters. A Turn says who asked, where, what, and carries every
reply handle the platform gave (webhooks with their expiry, the conversationToken, the
ids proactive sends need), so the router can pick a surface the message can really use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class ConversationType(StrEnum):
    """Where the message was written (single chat, group, or the magic wand)."""

    SINGLE = "single"
    GROUP = "group"
    MAGIC_WAND = "magic_wand"


Source = Literal["stream_bot", "stream_action", "http_bot", "http_action", "push"]


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

    @property
    def proactive(self) -> bool:
        """True for pushes: there is no chat message to reply to."""
        return self.source == "push"
