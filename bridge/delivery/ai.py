"""The AI-assistant surfaces: reply stream (reply mode) and stepwise (proactive mode).

**AI reply stream** (``ai_reply``) answers the message a conversationToken came with.
There is no open call: the first ``reply`` shows the message, later ones overwrite the
streaming variable with the full text (``isFull: true``), and the last one carries
``isFinalize: true``. Works unchanged in single chats, groups and the magic wand. The
token drives exactly one message, so the surface opens (or sends) once: a second
``open`` (the continuation of a long answer split in two) is refused and the relay
continues on its next surface.

**AI stepwise** (``ai_stepwise``, the seed's 分步发送) sends to a user's unionId or a
conversation's openConversationId: ``prepare`` opens a "preparing" bubble and returns a
token, ``update`` streams, and closing is a final update with ``isFinalize`` followed by
``finish``. ``finish`` is attempted even when the final update failed, so the bubble is
never left open.

aiInteraction has no "failed" state: a failed answer closes finished, with the partial
text and the notice the relay appended; so does recovery of a message a crashed process
left open.

Each surface's kind (``AI_REPLY``, ``AI_STEPWISE``) sits just above its class: which
Turns it serves, how it is built, how its open messages are recovered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.delivery.surface import KindedSurface, Surface, SurfaceDeps, SurfaceKind
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.wire import BasicCard, StaticCard, StreamingCard, Target
from bridge.errors import (
    ConfigError,
    InvalidConversationToken,
    PlatformError,
    PlatformRejected,
)
from bridge.turn import ConversationType, Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AiTemplate:
    """The AI card template and its streaming markdown variable."""

    template_id: str
    key: str

    def frame(self, text: str, *, finalize: bool) -> StreamingCard:
        return StreamingCard(
            template_id=self.template_id, key=self.key, text=text, finalize=finalize
        )

    @classmethod
    def of(cls, deps: SurfaceDeps) -> AiTemplate:
        """The template the assistant's ``[delivery]`` section names (config requires it)."""
        delivery = deps.assistant.delivery
        if delivery.ai_template_id is None:
            raise ConfigError(
                "ai_template_id is not set", key=f"assistants.{deps.assistant.name}.delivery"
            )
        return cls(delivery.ai_template_id, delivery.ai_template_key)

    @classmethod
    def from_handle(cls, handle: Mapping[str, str]) -> AiTemplate:
        """The template a message was opened with, as its handle recorded it."""
        return cls(template_id=handle["template_id"], key=handle["key"])


class _AiMessage:
    """What both AI messages share: the client, the token and the template."""

    def __init__(self, client: DingTalkClient, token: str, template: AiTemplate) -> None:
        self._client = client
        self._token = token
        self._template = template

    @property
    def handle(self) -> Mapping[str, str]:
        """What its kind's ``recover`` needs to close it after a crash."""
        return {
            "token": self._token,
            "template_id": self._template.template_id,
            "key": self._template.key,
        }


class ReplyStreamMessage(_AiMessage):
    """A reply-mode message; every call is an idempotent full-text ``reply``."""

    async def update(self, text: str) -> None:
        await self._client.reply(self._token, self._template.frame(text, finalize=False))

    async def close(self, text: str, *, ok: bool) -> None:
        await self._client.reply(self._token, self._template.frame(text, finalize=True))


def _serves_reply(turn: Turn, now: float) -> bool:
    return turn.handles.conversation_token is not None


def _build_reply(deps: SurfaceDeps, turn: Turn) -> Surface:
    token = turn.handles.conversation_token
    assert token is not None, "built only for a Turn it serves"
    return AiReplySurface(deps.client, token, AiTemplate.of(deps))


async def _recover_reply(client: DingTalkClient, handle: Mapping[str, str], text: str) -> None:
    # Every reply is a full-text overwrite: one finalizing reply closes it.
    template = AiTemplate.from_handle(handle)
    await client.reply(handle["token"], template.frame(text, finalize=True))


AI_REPLY = SurfaceKind(
    name="ai_reply",
    serves=_serves_reply,
    build=_build_reply,
    streams=True,
    # One token, one message: a continued message needs another surface (the relay
    # does not split an answer when no other candidate could carry the rest).
    can_split=False,
    recover=_recover_reply,
)


class AiReplySurface(KindedSurface):
    """``ai_reply``: stream into the message a conversationToken belongs to."""

    kind = AI_REPLY

    def __init__(self, client: DingTalkClient, token: str, template: AiTemplate) -> None:
        self._client = client
        self._token = token
        self._template = template
        self._used = False

    async def open(self) -> ReplyStreamMessage:
        # Reply mode has no open call: the first update makes the message appear.
        self._claim()
        return ReplyStreamMessage(self._client, self._token, self._template)

    async def send_once(self, text: str) -> None:
        self._claim()
        await self._client.reply(self._token, self._template.frame(text, finalize=True))

    def _claim(self) -> None:
        # Once its message is finalized the platform refuses the token any more content;
        # without this a continued message would silently lose the rest of the answer.
        if self._used:
            raise PlatformRejected(
                "the conversationToken already carries this reply's message; "
                "a continued message needs another surface",
                operation=Operation.AI_REPLY.value,
            )
        self._used = True


class StepwiseMessage(_AiMessage):
    """A prepared proactive message: update… then a final update and ``finish``."""

    async def update(self, text: str) -> None:
        await self._client.update(self._token, self._template.frame(text, finalize=False))

    async def close(self, text: str, *, ok: bool) -> None:
        try:
            await self._client.update(self._token, self._template.frame(text, finalize=True))
        finally:
            await _finish(self._client, self._token)


def _serves_stepwise(turn: Turn, now: float) -> bool:
    handles = turn.handles
    if turn.conversation_type is ConversationType.MAGIC_WAND:
        return False  # proactive sends cannot reach the magic wand (dingtalk-api.md §7)
    if handles.open_conversation_id:
        return True
    return turn.conversation_type is ConversationType.SINGLE and handles.union_id is not None


def _build_stepwise(deps: SurfaceDeps, turn: Turn) -> Surface:
    # The openConversationId when the Turn has one (a group, or an action's context, which
    # holds the chat's real one, single or group); else the user's unionId, the seed's way
    # to a single chat: a robot message's conversationId of a single chat is none.
    handles = turn.handles
    if handles.open_conversation_id:
        target = Target.conversation(handles.open_conversation_id)
    else:
        assert handles.union_id is not None, "built only for a Turn it serves"
        target = Target.user(handles.union_id)
    return AiStepwiseSurface(deps.client, target, AiTemplate.of(deps))


async def _recover_stepwise(client: DingTalkClient, handle: Mapping[str, str], text: str) -> None:
    token = handle["token"]
    template = AiTemplate.from_handle(handle)
    try:
        await client.update(token, template.frame(text, finalize=True))
    except PlatformError as exc:
        # The token may be gone already; finish below settles it either way.
        log.warning("recovering an ai_stepwise message: final update failed: %s", exc)
    await _finish(client, token)


AI_STEPWISE = SurfaceKind(
    name="ai_stepwise",
    serves=_serves_stepwise,
    build=_build_stepwise,
    streams=True,
    recover=_recover_stepwise,
)


class AiStepwiseSurface(KindedSurface):
    """``ai_stepwise``: prepare → update… → finish, to a user or a conversation."""

    kind = AI_STEPWISE

    def __init__(self, client: DingTalkClient, target: Target, template: AiTemplate) -> None:
        self._client = client
        self._target = target
        self._template = template

    async def open(self) -> StepwiseMessage:
        token = await self._client.prepare(
            self._target, StaticCard(template_id=self._template.template_id)
        )
        return StepwiseMessage(self._client, token, self._template)

    async def send_once(self, text: str) -> None:
        # ``send`` documents basic_card_schema only (§3.6): one call, one finished message.
        await self._client.send(self._target, BasicCard(text=text))


async def _finish(client: DingTalkClient, token: str) -> None:
    try:
        await client.finish(token)
    except InvalidConversationToken:
        # A retried finish whose first attempt got through (answer lost on the way back)
        # finds the token finished: the message is closed, which is all we wanted.
        log.info("finish: conversation token already finished")
