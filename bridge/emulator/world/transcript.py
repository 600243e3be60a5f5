"""What a chat user would see: users, conversations and the messages in them.

A ``Message`` moves through ``MessageState`` with checked transitions (a finished or
failed message never changes again) and keeps every visible change with the real time it
happened, so tests can assert exactly what was on screen and in which order. Every change
is published on the event bus. Nothing here knows HTTP or the wire format.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from bridge.emulator.control.views import (
    ChangeView,
    ConversationType,
    ConversationView,
    MessageView,
    MsgType,
    PieceView,
    UserView,
)
from bridge.emulator.errors import EmulatorError, not_found
from bridge.emulator.world.bus import EventBus, message_changed


class MessageState(StrEnum):
    """Where a message is in its life, as the DingTalk client shows it."""

    PREPARING = "preparing"  # the "准备中" bubble
    INPUTTING = "inputting"  # text is streaming in
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True once nothing can change the message any more."""
        return self in (MessageState.FINISHED, MessageState.FAILED)

    def can_become(self, target: MessageState) -> bool:
        """Whether the platform allows ``self → target`` (staying put is allowed while open)."""
        if self.is_final:
            return False
        if self is MessageState.INPUTTING:
            return target is not MessageState.PREPARING
        return True


class IllegalTransition(EmulatorError):
    """A state change the platform does not allow (a bug in the emulator's callers)."""


@dataclass(frozen=True, slots=True)
class User:
    """A member of the organisation: staff id (``user_id``), union id and nickname."""

    user_id: str
    union_id: str
    nick: str

    def view(self) -> UserView:
        """The control-API shape."""
        return UserView(user_id=self.user_id, union_id=self.union_id, nick=self.nick)


@dataclass(frozen=True, slots=True)
class Conversation:
    """A chat, by the ``id`` a robot's messages carry as ``conversationId``.

    ``open_conversation_id`` is what aiInteraction and robot group sends take: the same
    id for a group; for a single chat another one (``single_open_id``), which only an
    AI-assistant action's context carries, so a robot message's ``conversationId`` of a
    single chat is no ``openConversationId`` (a single chat is reached by the user's
    unionId, as the seed says); empty for the magic wand, which is not in IM.
    """

    id: str
    type: ConversationType
    open_conversation_id: str
    title: str
    members: tuple[str, ...]

    def view(self) -> ConversationView:
        """The control-API shape."""
        return ConversationView(
            id=self.id,
            type=self.type,
            open_conversation_id=self.open_conversation_id,
            title=self.title,
            members=list(self.members),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One visible change: the real time, the state after it, the text after it."""

    at: float
    state: MessageState
    text: str


@dataclass
class Message:
    """A message in a conversation, sent by a user or by a bot app."""

    id: str
    conversation_id: str
    sender_kind: Literal["user", "bot"]
    sender_id: str
    via: str
    state: MessageState
    text: str = ""
    template_id: str | None = None
    card_data: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    changes: list[Change] = field(default_factory=list)
    msgtype: MsgType = "text"
    pieces: tuple[PieceView, ...] = ()
    out_track_id: str | None = None  # a card's, for its buttons' callbacks
    stop_button: bool = False

    def view(self) -> MessageView:
        """The control-API shape."""
        return MessageView(
            id=self.id,
            conversation_id=self.conversation_id,
            sender_kind=self.sender_kind,
            sender_id=self.sender_id,
            text=self.text,
            state=self.state.value,
            via=self.via,
            template_id=self.template_id,
            card_data=dict(self.card_data),
            created_at=self.created_at,
            changes=[ChangeView(at=c.at, state=c.state.value, text=c.text) for c in self.changes],
            msgtype=self.msgtype,
            pieces=list(self.pieces),
            out_track_id=self.out_track_id,
            stop_button=self.stop_button,
        )


def single_open_id(conversation_id: str) -> str:
    """The openConversationId of the single chat robots know as ``conversation_id``."""
    return f"oc-{conversation_id}"


def _open_id(type: ConversationType, conversation_id: str) -> str:
    if type == "magic_wand":
        return ""
    return single_open_id(conversation_id) if type == "single" else conversation_id


class Transcript:
    """Users, conversations and messages, with change notifications."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.users: dict[str, User] = {}
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, Message] = {}
        self._ids = itertools.count(1)

    # -- people and places -------------------------------------------------------------

    def add_user(self, user_id: str, nick: str, union_id: str | None = None) -> User:
        """Register a user; the union id is derived from the staff id unless given."""
        if user_id in self.users:
            raise EmulatorError(f"user {user_id!r} exists", status=409)
        user = User(user_id=user_id, union_id=union_id or f"union-{user_id}", nick=nick)
        self.users[user_id] = user
        return user

    def user(self, user_id: str) -> User:
        """The user with this staff id."""
        try:
            return self.users[user_id]
        except KeyError:
            raise not_found("user", user_id) from None

    def user_by_union_id(self, union_id: str) -> User | None:
        """The user with this union id, if any."""
        return next((u for u in self.users.values() if u.union_id == union_id), None)

    def add_conversation(
        self,
        type: ConversationType,
        members: Iterable[str],
        title: str = "",
        conversation_id: str | None = None,
    ) -> Conversation:
        """Create a conversation; a single chat or magic wand has exactly one member."""
        member_ids = tuple(members)
        for member in member_ids:
            self.user(member)
        if type != "group" and len(member_ids) != 1:
            raise EmulatorError(f"a {type} conversation has exactly one member")
        if not member_ids:
            raise EmulatorError("a conversation needs members")
        cid = conversation_id or f"cid{secrets.token_urlsafe(12)}"
        if cid in self.conversations:
            raise EmulatorError(f"conversation {cid!r} exists", status=409)
        conversation = Conversation(
            id=cid,
            type=type,
            open_conversation_id=_open_id(type, cid),
            title=title,
            members=member_ids,
        )
        self.conversations[cid] = conversation
        return conversation

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation with this id."""
        try:
            return self.conversations[conversation_id]
        except KeyError:
            raise not_found("conversation", conversation_id) from None

    def by_open_id(self, open_conversation_id: str) -> Conversation | None:
        """The IM conversation with this open id (never a magic wand)."""
        if not open_conversation_id:
            return None
        return next(
            (
                c
                for c in self.conversations.values()
                if c.open_conversation_id == open_conversation_id
            ),
            None,
        )

    def single_chat_with(self, user_id: str) -> Conversation:
        """The user's single chat with the bot, opened on first use as DingTalk does."""
        for conversation in self.conversations.values():
            if conversation.type == "single" and conversation.members == (user_id,):
                return conversation
        return self.add_conversation("single", [user_id], title=self.user(user_id).nick)

    # -- messages ----------------------------------------------------------------------

    def post(
        self,
        conversation_id: str,
        *,
        sender_kind: Literal["user", "bot"],
        sender_id: str,
        via: str,
        state: MessageState,
        text: str = "",
        template_id: str | None = None,
        card_data: dict[str, Any] | None = None,
        msgtype: MsgType = "text",
        pieces: tuple[PieceView, ...] = (),
        out_track_id: str | None = None,
        stop_button: bool = False,
    ) -> Message:
        """Add a message to a conversation, recording its first change.

        A user's message of another ``msgtype`` than text holds its ``pieces``; a card
        its ``out_track_id`` and whether its stop button shows.
        """
        self.conversation(conversation_id)
        now = time.time()
        message = Message(
            id=f"msg{next(self._ids):06d}{secrets.token_hex(3)}",
            conversation_id=conversation_id,
            sender_kind=sender_kind,
            sender_id=sender_id,
            via=via,
            state=state,
            text=text,
            template_id=template_id,
            card_data=dict(card_data or {}),
            created_at=now,
            changes=[Change(at=now, state=state, text=text)],
            msgtype=msgtype,
            pieces=pieces,
            out_track_id=out_track_id,
            stop_button=stop_button and not state.is_final,
        )
        self.messages[message.id] = message
        self._bus.publish(message_changed(message.view()))
        return message

    def change(
        self,
        message: Message,
        *,
        state: MessageState | None = None,
        text: str | None = None,
        card_data: dict[str, Any] | None = None,
        stop_button: bool | None = None,
    ) -> Message:
        """Apply a visible change; a final message refuses any change (and shows no
        button)."""
        target = state or message.state
        if not message.state.can_become(target):
            raise IllegalTransition(f"message {message.id}: {message.state} → {target}")
        message.state = target
        if text is not None:
            message.text = text
        if card_data is not None:
            message.card_data = dict(card_data)
        if stop_button is not None:
            message.stop_button = stop_button
        if target.is_final:
            message.stop_button = False
        message.changes.append(Change(at=time.time(), state=target, text=message.text))
        self._bus.publish(message_changed(message.view()))
        return message

    def message(self, message_id: str) -> Message:
        """The message with this id."""
        try:
            return self.messages[message_id]
        except KeyError:
            raise not_found("message", message_id) from None

    def in_conversation(self, conversation_id: str) -> list[Message]:
        """A conversation's messages, oldest first."""
        self.conversation(conversation_id)
        return [m for m in self.messages.values() if m.conversation_id == conversation_id]

    def in_states(self, states: Iterable[MessageState]) -> list[Message]:
        """Every message currently in one of ``states``, oldest first."""
        wanted = set(states)
        return [m for m in self.messages.values() if m.state in wanted]
