"""Robot messaging: session webhooks (§5 G, H) and robot sends (§4 K, L).

A session webhook is handed out with an inbound message and is its own credential: the
URL names a session, the session names the app, conversation and user, and it dies at
its expiry (emulated clock). Webhooks answer HTTP 200 even when they refuse, with a
non-zero ``errcode`` (300001 for an expired or unknown session).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import LimitsView
from bridge.emulator.errors import (
    MALFORMED,
    SESSION_GONE,
    Rejection,
    bad_request,
    webhook_error,
)
from bridge.emulator.openapi.apps import App
from bridge.emulator.world.clock import EmulatorClock
from bridge.emulator.world.content import (
    Templates,
    decode_json_object,
    parse_ai_card,
    robot_message_text,
    robot_webhook_text,
    visible_text,
)
from bridge.emulator.world.transcript import MessageState, Transcript

SessionKind = Literal["robot", "ai"]
WEBHOOK_PATHS: dict[SessionKind, str] = {"robot": "/robot/sendBySession", "ai": "/agent/send"}


@dataclass(frozen=True, slots=True)
class Session:
    """A sessionWebhook: who may answer whom, where, until when (emulated epoch s)."""

    id: str
    kind: SessionKind
    client_id: str
    conversation_id: str
    user_id: str
    expires_at: float

    def url(self, base_url: str) -> str:
        """The absolute webhook URL, as the platform hands it out."""
        return f"{base_url.rstrip('/')}{WEBHOOK_PATHS[self.kind]}?session={self.id}"


def session_gone() -> Rejection:
    """The webhook answer for an expired or unknown session."""
    return webhook_error(SESSION_GONE, "session 不存在")


class Robots:
    """Session webhooks and robot sends."""

    def __init__(
        self,
        transcript: Transcript,
        templates: Templates,
        clock: EmulatorClock,
        limits: Callable[[], LimitsView],
    ) -> None:
        self._transcript = transcript
        self._templates = templates
        self._clock = clock
        self._limits = limits
        self.sessions: dict[str, Session] = {}

    def open_session(
        self, kind: SessionKind, app: App, conversation_id: str, user_id: str
    ) -> Session:
        """A fresh session webhook living ``webhook_lifetime`` seconds."""
        token = secrets.token_hex(16)
        session = Session(
            id=f"aswh_{token}" if kind == "ai" else token,
            kind=kind,
            client_id=app.client_id,
            conversation_id=conversation_id,
            user_id=user_id,
            expires_at=self._clock.now() + self._limits().webhook_lifetime,
        )
        self.sessions[session.id] = session
        return session

    def session(self, session_id: str | None, kind: SessionKind) -> Session:
        """The live session of that kind, or the 300001 answer."""
        session = self.sessions.get(session_id or "")
        if session is None or session.kind != kind or session.expires_at <= self._clock.now():
            raise session_gone()
        return session

    # -- webhooks ------------------------------------------------------------------------

    def send_by_session(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """G: a text/markdown/actionCard/link/feedCard message into the session's chat."""
        try:
            text = robot_webhook_text(body)
        except ValueError as exc:
            raise webhook_error(MALFORMED, str(exc)) from None
        if body.get("msgtype") != "empty":
            self._post(session.client_id, session.conversation_id, Operation.ROBOT_WEBHOOK, text)
        return {"errcode": 0, "errmsg": "ok"}

    def agent_send(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """H: an ``ai_card`` (content object or JSON string) into the session's chat."""
        if body.get("contentType") != "ai_card":
            raise webhook_error(MALFORMED, "contentType 不合法")
        content = decode_json_object(body.get("content"))
        if content is None:
            raise webhook_error(MALFORMED, "缺少参数 content")
        try:
            card = parse_ai_card(content, self._templates, None)
        except Rejection as exc:
            raise webhook_error(MALFORMED, exc.message) from None
        data = dict(card.card_data)
        if card.streaming is not None:
            data[card.streaming.key] = card.streaming.value
        self._post(
            session.client_id,
            session.conversation_id,
            Operation.AI_WEBHOOK,
            visible_text(card.template, data),
            template_id=card.template.template_id,
            card_data=data,
        )
        return {"success": True, "errcode": 0, "errmsg": "ok"}

    # -- robot OpenAPI -------------------------------------------------------------------

    def batch_send(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """K: the same message to up to 20 users' single chats."""
        self._require_robot(app, body)
        user_ids = body.get("userIds")
        if (
            not isinstance(user_ids, list)
            or not 1 <= len(user_ids) <= 20
            or not all(isinstance(u, str) for u in user_ids)
        ):
            raise bad_request("invalid.param", "userIds must hold 1 to 20 staff ids")
        text = robot_message_text(
            body.get("msgKey"), body.get("msgParam"), self._limits().msg_param_bytes
        )
        invalid = [u for u in user_ids if u not in self._transcript.users]
        for user_id in user_ids:
            if user_id not in invalid:
                conversation = self._transcript.single_chat_with(user_id)
                self._post(app.client_id, conversation.id, Operation.ROBOT_OTO_SEND, text)
        return {
            "processQueryKey": secrets.token_urlsafe(16),
            "invalidStaffIdList": invalid,
            "flowControlledStaffIdList": [],
            "filteredStaffIdList": [],
        }

    def group_send(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """L: one message into a group the robot is in."""
        self._require_robot(app, body)
        open_id = body.get("openConversationId")
        conversation = self._transcript.by_open_id(open_id) if isinstance(open_id, str) else None
        if conversation is None or conversation.type != "group":
            raise bad_request("invalid.param", "invalid openConversationId")
        text = robot_message_text(
            body.get("msgKey"), body.get("msgParam"), self._limits().msg_param_bytes
        )
        self._post(app.client_id, conversation.id, Operation.ROBOT_GROUP_SEND, text)
        return {"processQueryKey": secrets.token_urlsafe(16)}

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _require_robot(app: App, body: dict[str, Any]) -> None:
        if body.get("robotCode") != app.robot_code:
            raise bad_request("invalid.param", "robotCode is invalid")

    def _post(
        self,
        client_id: str,
        conversation_id: str,
        via: Operation,
        text: str,
        *,
        template_id: str | None = None,
        card_data: dict[str, Any] | None = None,
    ) -> None:
        self._transcript.post(
            conversation_id,
            sender_kind="bot",
            sender_id=client_id,
            via=via,
            state=MessageState.FINISHED,
            text=text,
            template_id=template_id,
            card_data=card_data,
        )
