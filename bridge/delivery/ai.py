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
text and the notice the relay appended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.wire import BasicCard, StaticCard, StreamingCard, Target
from bridge.errors import InvalidConversationToken, PlatformError, PlatformRejected

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


class _AiMessage:
    """What both AI messages share: the client, the token and the template."""

    def __init__(self, client: DingTalkClient, token: str, template: AiTemplate) -> None:
        self._client = client
        self._token = token
        self._template = template

    @property
    def handle(self) -> dict[str, Any]:
        """What ``close_ai_message`` needs to close it after a crash."""
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


class AiReplySurface:
    """``ai_reply``: stream into the message a conversationToken belongs to."""

    name = "ai_reply"
    can_stream = True
    # One token, one message: a continued message needs another surface (the relay
    # does not split an answer when no other candidate could carry the rest).
    single_message = True

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


class AiStepwiseSurface:
    """``ai_stepwise``: prepare → update… → finish, to a user or a conversation."""

    name = "ai_stepwise"
    can_stream = True

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


async def close_ai_message(
    client: DingTalkClient, surface: str, handle: dict[str, Any], text: str
) -> None:
    """Close a message left open by a crashed process, from its recorded handle."""
    template = AiTemplate(template_id=str(handle["template_id"]), key=str(handle["key"]))
    token = str(handle["token"])
    if surface == "ai_reply":
        await client.reply(token, template.frame(text, finalize=True))
        return
    try:
        await client.update(token, template.frame(text, finalize=True))
    except PlatformError as exc:
        # The token may be gone already; finish below settles it either way.
        log.warning("recovering %s message: final update failed: %s", surface, exc)
    await _finish(client, token)


async def _finish(client: DingTalkClient, token: str) -> None:
    try:
        await client.finish(token)
    except InvalidConversationToken:
        # A retried finish whose first attempt got through (answer lost on the way back)
        # finds the token finished: the message is closed, which is all we wanted.
        log.info("finish: conversation token already finished")
