"""AI assistant interaction (aiInteraction reply/prepare/update/finish/send, §3).

Conversation tokens come from two places: ``prepare`` (proactive, with a "准备中"
bubble) and the platform itself when a user speaks to the assistant (reply mode, see
``Emulator.inbound``). A token pins its card template on first use, drives one message,
and is closed by ``finish``. Once its message is finished or failed the token accepts no
more content, but ``finish`` still succeeds once (the documented flow is update with
``isFinalize: true``, then finish).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from bridge.emulator.errors import Rejection, bad_request
from bridge.emulator.openapi.apps import App
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.world.content import (
    AiCard,
    Templates,
    basic_card_text,
    parse_ai_card,
    visible_text,
)
from bridge.emulator.world.transcript import Conversation, Message, MessageState, Transcript

SUCCESS: dict[str, Any] = {"result": {"success": True}}


@dataclass
class ConversationToken:
    """A conversationToken and the one message it drives."""

    value: str
    client_id: str
    conversation_id: str
    mode: Literal["reply", "proactive"]
    template_id: str | None = None
    message_id: str | None = None
    closed: bool = False


def invalid_token(message: str = "conversationToken is invalid") -> Rejection:
    """A 400 ``invalid.conversation.token``."""
    return bad_request("invalid.conversation.token", message)


def _require_content_type(body: dict[str, Any], allowed: tuple[str, ...]) -> str:
    content_type = body.get("contentType")
    if content_type not in allowed:
        raise bad_request("invalid.content.type", f"contentType must be one of {list(allowed)}")
    return str(content_type)


class AiInteractions:
    """Conversation tokens and the messages they drive."""

    def __init__(self, transcript: Transcript, templates: Templates) -> None:
        self._transcript = transcript
        self._templates = templates
        self.tokens: dict[str, ConversationToken] = {}

    def issue(
        self, app: App, conversation: Conversation, mode: Literal["reply", "proactive"]
    ) -> ConversationToken:
        """A fresh token of ``app`` for ``conversation``."""
        token = ConversationToken(
            value=f"ct_{secrets.token_urlsafe(18)}",
            client_id=app.client_id,
            conversation_id=conversation.id,
            mode=mode,
        )
        self.tokens[token.value] = token
        return token

    def latest(self, client_id: str, conversation_id: str) -> str | None:
        """The newest token ``client_id`` was issued in ``conversation_id`` (a card's
        button press in that chat carries it, §13.2)."""
        found = [
            t.value
            for t in self.tokens.values()
            if t.client_id == client_id and t.conversation_id == conversation_id
        ]
        return found[-1] if found else None

    # -- operations ----------------------------------------------------------------------

    def prepare(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """C: open a preparing message in a single chat or group; return its token."""
        self._require_assistant(app)
        _require_content_type(body, ("ai_card",))
        conversation = self._target(body)
        card = parse_ai_card(body.get("content"), self._templates, None)
        token = self.issue(app, conversation, "proactive")
        message = self._transcript.post(
            conversation.id,
            sender_kind="bot",
            sender_id=app.client_id,
            via=Api.AI_PREPARE,
            state=MessageState.PREPARING,
            template_id=card.template.template_id,
            card_data=card.card_data,
        )
        token.template_id = card.template.template_id
        token.message_id = message.id
        return {"result": {"conversationToken": token.value}}

    def update(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """D: a static or streaming change of the token's message."""
        return self._change(app, body, Api.AI_UPDATE)

    def reply(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """B: like update, on a reply-mode token; a static reply is a finished answer."""
        return self._change(app, body, Api.AI_REPLY)

    def finish(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """E: finish the token's message (if still open) and close the token."""
        self._require_assistant(app)
        token = self._token(app, body)
        message = self._message(token)
        if message is not None and not message.state.is_final:
            self._transcript.change(message, state=MessageState.FINISHED)
        token.closed = True
        return SUCCESS

    def send(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """F: one finished message to a user or group."""
        self._require_assistant(app)
        content_type = _require_content_type(body, ("basic_card_schema", "ai_card"))
        conversation = self._target(body)
        template_id: str | None = None
        card_data: dict[str, Any] = {}
        if content_type == "basic_card_schema":
            text = basic_card_text(body.get("content"))
        else:
            card = parse_ai_card(body.get("content"), self._templates, None)
            template_id = card.template.template_id
            card_data = self._next_card_data({}, card)
            text = visible_text(card.template, card_data)
        self._transcript.post(
            conversation.id,
            sender_kind="bot",
            sender_id=app.client_id,
            via=Api.AI_SEND,
            state=MessageState.FINISHED,
            text=text,
            template_id=template_id,
            card_data=card_data,
        )
        return {"success": True, "result": {"success": True}}

    # -- helpers -------------------------------------------------------------------------

    def _change(self, app: App, body: dict[str, Any], via: Api) -> dict[str, Any]:
        self._require_assistant(app)
        token = self._token(app, body)
        _require_content_type(body, ("ai_card",))
        card = parse_ai_card(body.get("content"), self._templates, token.template_id)
        message = self._message(token)
        if message is not None and message.state.is_final:
            raise invalid_token("conversationToken is finished")
        card_data = self._next_card_data(message.card_data if message else {}, card)
        text = visible_text(card.template, card_data)
        # A static reply is a whole answer; a static update waits for finish.
        final = card.streaming.is_finalize if card.streaming is not None else via is Api.AI_REPLY
        state = MessageState.FINISHED if final else MessageState.INPUTTING
        token.template_id = card.template.template_id
        if message is None:
            message = self._transcript.post(
                token.conversation_id,
                sender_kind="bot",
                sender_id=app.client_id,
                via=via,
                state=state,
                text=text,
                template_id=card.template.template_id,
                card_data=card_data,
            )
            token.message_id = message.id
        else:
            self._transcript.change(message, state=state, text=text, card_data=card_data)
        return SUCCESS

    @staticmethod
    def _next_card_data(current: dict[str, Any], card: AiCard) -> dict[str, Any]:
        data = dict(current)
        if card.streaming is None:
            # Undocumented (§9.4): the emulator merges a static update per key.
            data.update(card.card_data)
            return data
        change = card.streaming
        previous = data.get(change.key, "")
        data[change.key] = change.value if change.is_full else f"{previous}{change.value}"
        return data

    @staticmethod
    def _require_assistant(app: App) -> None:
        if app.kind != "assistant":
            raise bad_request("invalid.param", "ai assistant not found")

    def _token(self, app: App, body: dict[str, Any]) -> ConversationToken:
        value = body.get("conversationToken")
        token = self.tokens.get(value) if isinstance(value, str) else None
        if token is None or token.client_id != app.client_id:
            raise invalid_token()
        if token.closed:
            raise invalid_token("conversationToken is finished")
        return token

    def _message(self, token: ConversationToken) -> Message | None:
        if token.message_id is None:
            return None
        return self._transcript.messages[token.message_id]

    def _target(self, body: dict[str, Any]) -> Conversation:
        open_id = body.get("openConversationId")
        union_id = body.get("unionId")
        if open_id:
            conversation = self._transcript.by_open_id(str(open_id))
            if conversation is None:
                raise bad_request("invalid.param", "invalid openConversationId")
            return conversation
        if union_id:
            user = self._transcript.user_by_union_id(str(union_id))
            if user is None:
                raise bad_request("invalid.param", "invalid unionId")
            return self._transcript.single_chat_with(user.user_id)
        raise bad_request("invalid.param", "invalid openConversationId")
