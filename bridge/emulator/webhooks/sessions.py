"""Session webhooks (contract §5 G and H): the URLs an app answers a user's message on.

A session webhook is handed out with an inbound message and is its own credential: the
URL names a session, the session names the app, conversation and user, and it dies at its
expiry (emulated clock). The robot webhook (G) takes custom-robot messages (``text``,
``markdown``, ``actionCard``…), the AI-assistant webhook (H) an ``ai_card`` whose
``content`` is an object. Both answer HTTP 200 even when they refuse, with a non-zero
``errcode`` (300001 for an expired or unknown session).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bridge.emulator.control.views import LimitsView
from bridge.emulator.errors import MALFORMED, SESSION_GONE, Rejection, webhook_error
from bridge.emulator.openapi.apps import App
from bridge.emulator.openapi.endpoints import ENDPOINTS, Api
from bridge.emulator.world.clock import EmulatorClock
from bridge.emulator.world.content import (
    Templates,
    decode_json_object,
    parse_ai_card,
    robot_webhook_text,
    visible_text,
)
from bridge.emulator.world.transcript import MessageState, Transcript

SessionKind = Literal["robot", "ai"]
WEBHOOK_APIS: dict[SessionKind, Api] = {"robot": Api.ROBOT_WEBHOOK, "ai": Api.AI_WEBHOOK}
"""The webhook API each kind of session is answered on."""


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
        path = ENDPOINTS[WEBHOOK_APIS[self.kind]].path
        return f"{base_url.rstrip('/')}{path}?session={self.id}"


def session_gone() -> Rejection:
    """The webhook answer for an expired or unknown session."""
    return webhook_error(SESSION_GONE, "session 不存在")


class Sessions:
    """The session webhooks handed out, and what arrives on them."""

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

    def open(self, kind: SessionKind, app: App, conversation_id: str, user_id: str) -> Session:
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

    def session(self, session_id: str | None, api: Api) -> Session:
        """The live session answered on ``api``, or the 300001 answer."""
        session = self.sessions.get(session_id or "")
        if (
            session is None
            or WEBHOOK_APIS[session.kind] is not api
            or session.expires_at <= self._clock.now()
        ):
            raise session_gone()
        return session

    def send_by_session(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """G: a text/markdown/actionCard/link/feedCard message into the session's chat."""
        try:
            text = robot_webhook_text(body)
        except ValueError as exc:
            raise webhook_error(MALFORMED, str(exc)) from None
        if body.get("msgtype") != "empty":
            self._post(session, Api.ROBOT_WEBHOOK, text)
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
            session,
            Api.AI_WEBHOOK,
            visible_text(card.template, data),
            template_id=card.template.template_id,
            card_data=data,
        )
        return {"success": True, "errcode": 0, "errmsg": "ok"}

    def _post(
        self,
        session: Session,
        via: Api,
        text: str,
        *,
        template_id: str | None = None,
        card_data: dict[str, Any] | None = None,
    ) -> None:
        self._transcript.post(
            session.conversation_id,
            sender_kind="bot",
            sender_id=session.client_id,
            via=via,
            state=MessageState.FINISHED,
            text=text,
            template_id=template_id,
            card_data=card_data,
        )
