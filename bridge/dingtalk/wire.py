"""DingTalk's JSON, built and parsed in one place (wire contract ``shared/dingtalk-api.md``).

Everything else in bridge sees the frozen values defined here: what to show
(``StreamingCard``, ``StaticCard``, ``BasicCard``, ``Text``, ``Markdown``), where to show
it (``Target``), what to subscribe to (``Subscription``) and what came back
(``AccessToken``, ``StreamTicket``, ``RobotSendResult``). The ``*_body`` functions turn
values into request bodies, including the JSON-*string* ``content``/``msgParam`` fields;
the ``parse_*`` functions read success bodies. The card OpenAPI (§4 I, J) has its own
module, ``bridge.dingtalk.cards``. Error answers are mapped to the error tree by
``bridge.dingtalk.faults``.

Where the contract is unsure (§9) parsing accepts every documented form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.dingtalk.operations import Operation
from bridge.errors import PlatformRejected, PlatformUnavailable

__all__ = [
    "AI_WEBHOOK_MARKDOWN_TEMPLATE",
    "JSON",
    "AccessToken",
    "AiCard",
    "At",
    "BasicCard",
    "Markdown",
    "RobotMessage",
    "RobotSendResult",
    "StaticCard",
    "StreamTicket",
    "StreamingCard",
    "Subscription",
    "Target",
    "Text",
    "access_token_body",
    "ai_content_body",
    "ai_webhook_body",
    "decode_json",
    "gateway_open_body",
    "parse_access_token",
    "parse_prepare",
    "parse_robot_send",
    "parse_stream_ticket",
    "require_success",
    "robot_group_send_body",
    "robot_oto_send_body",
    "robot_webhook_body",
]

JSON = dict[str, Any]

#: The template the official SDK renders AI-assistant webhook markdown with (§5 H).
AI_WEBHOOK_MARKDOWN_TEMPLATE = "d28e2ac5-fb34-4d93-94bc-cf5c580c2d4f.schema"


def _dumps(value: object) -> str:
    # Compact and unescaped: DingTalk counts content size, and CJK stays readable in logs.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An app access token and its lifetime in seconds, as DingTalk issued it."""

    value: str
    expires_in: float

    def __repr__(self) -> str:
        return f"AccessToken(value='***', expires_in={self.expires_in})"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic a Stream connection asks for (§6.1): ``CALLBACK`` or ``EVENT`` frames."""

    type: Literal["CALLBACK", "EVENT"]
    topic: str

    @classmethod
    def callback(cls, topic: str) -> Subscription:
        """CALLBACK frames of ``topic`` (bot messages, AI-assistant actions)."""
        return cls("CALLBACK", topic)


@dataclass(frozen=True, slots=True)
class StreamTicket:
    """Where to open the Stream WebSocket, and the single-use ticket (valid 90 s) for it."""

    endpoint: str
    ticket: str

    def __repr__(self) -> str:
        return f"StreamTicket(endpoint={self.endpoint!r}, ticket='***')"


@dataclass(frozen=True, slots=True)
class StreamingCard:
    """An ``ai_card`` streaming update: ``key`` shows ``text`` (§3.1).

    ``full`` (``isFull``) replaces the variable; bridge always sends the whole text so far,
    so an update can be retried or dropped without harm. ``finalize`` ends the stream.
    """

    template_id: str
    key: str
    text: str
    finalize: bool = False
    full: bool = True

    def content(self) -> JSON:
        return {
            "templateId": self.template_id,
            "cardData": {
                "key": self.key,
                "value": self.text,
                "isFinalize": self.finalize,
                "isFull": self.full,
            },
            "options": {"componentTag": "streamingComponent"},
        }


@dataclass(frozen=True, slots=True)
class StaticCard:
    """An ``ai_card`` static update: template variables mapped to values (§3.1)."""

    template_id: str
    card_data: Mapping[str, str] = field(default_factory=dict)

    def content(self) -> JSON:
        return {
            "templateId": self.template_id,
            "cardData": dict(self.card_data),
            "options": {"componentTag": "staticComponent"},
        }


AiCard = StreamingCard | StaticCard


@dataclass(frozen=True, slots=True)
class BasicCard:
    """A ``basic_card_schema`` message, the one type documented for ``send`` (§3.1)."""

    text: str
    title: str | None = None
    logo: str | None = None

    def content(self) -> JSON:
        schema: JSON = {"contents": [{"type": "text", "text": self.text, "id": "text"}]}
        if self.title is not None or self.logo is not None:
            header: JSON = {}
            if self.title is not None:
                header["title"] = {"type": "text", "text": self.title}
            if self.logo is not None:
                header["logo"] = self.logo
            schema = {"header": header, **schema}
        return schema


@dataclass(frozen=True, slots=True)
class Target:
    """Whom a proactive AI message goes to: a user (``unionId``) or a conversation."""

    kind: Literal["unionId", "openConversationId"]
    id: str

    @classmethod
    def user(cls, union_id: str) -> Target:
        """A single chat with the user ``union_id``."""
        return cls("unionId", union_id)

    @classmethod
    def conversation(cls, open_conversation_id: str) -> Target:
        """A single or group chat by its ``openConversationId``."""
        return cls("openConversationId", open_conversation_id)


@dataclass(frozen=True, slots=True)
class Text:
    """A plain text robot message."""

    content: str


@dataclass(frozen=True, slots=True)
class Markdown:
    """A markdown robot message; ``title`` is what notifications and previews show."""

    title: str
    text: str


RobotMessage = Text | Markdown


@dataclass(frozen=True, slots=True)
class At:
    """Who a robot-webhook message mentions (staff ids), or everyone."""

    user_ids: tuple[str, ...] = ()
    all: bool = False


@dataclass(frozen=True, slots=True)
class RobotSendResult:
    """What a robot batch/group send answered; the staff lists are empty for groups."""

    process_query_key: str
    invalid_staff_ids: tuple[str, ...] = ()
    flow_controlled_staff_ids: tuple[str, ...] = ()
    filtered_staff_ids: tuple[str, ...] = ()


# ---------------------------------------------------------------------- request bodies


def access_token_body(client_id: str, client_secret: str) -> JSON:
    """Body of ``POST /v1.0/oauth2/accessToken`` (§1)."""
    return {"appKey": client_id, "appSecret": client_secret}


def gateway_open_body(
    client_id: str,
    client_secret: str,
    subscriptions: Sequence[Subscription],
    *,
    ua: str,
    local_ip: str,
) -> JSON:
    """Body of ``POST /v1.0/gateway/connections/open`` (§6.1); the credentials ride in it."""
    return {
        "clientId": client_id,
        "clientSecret": client_secret,
        "subscriptions": [{"type": s.type, "topic": s.topic} for s in subscriptions],
        "ua": ua,
        "localIp": local_ip,
    }


def ai_content_body(content: AiCard | BasicCard) -> JSON:
    """``contentType`` and the JSON-string ``content`` of an aiInteraction call."""
    content_type = "basic_card_schema" if isinstance(content, BasicCard) else "ai_card"
    return {"contentType": content_type, "content": _dumps(content.content())}


def ai_webhook_body(markdown: str, *, template_id: str = AI_WEBHOOK_MARKDOWN_TEMPLATE) -> JSON:
    """Body for an AI-assistant sessionWebhook: ``content`` is an object here (§5 H)."""
    return {
        "contentType": "ai_card",
        "content": {"templateId": template_id, "cardData": {"content": markdown}},
    }


def robot_webhook_body(message: RobotMessage, at: At | None = None) -> JSON:
    """Body for a robot sessionWebhook, in custom-robot format (§5 G)."""
    body: JSON
    if isinstance(message, Text):
        body = {"msgtype": "text", "text": {"content": message.content}}
    else:
        body = {"msgtype": "markdown", "markdown": {"title": message.title, "text": message.text}}
    if at is not None:
        body["at"] = {"atUserIds": list(at.user_ids), "isAtAll": at.all}
    return body


def _msg_key_param(message: RobotMessage) -> JSON:
    if isinstance(message, Text):
        return {"msgKey": "sampleText", "msgParam": _dumps({"content": message.content})}
    return {
        "msgKey": "sampleMarkdown",
        "msgParam": _dumps({"title": message.title, "text": message.text}),
    }


def robot_group_send_body(
    robot_code: str, open_conversation_id: str, message: RobotMessage
) -> JSON:
    """Body of ``groupMessages/send`` (§4 L)."""
    return {
        "robotCode": robot_code,
        "openConversationId": open_conversation_id,
        **_msg_key_param(message),
    }


def robot_oto_send_body(robot_code: str, user_ids: tuple[str, ...], message: RobotMessage) -> JSON:
    """Body of ``oToMessages/batchSend`` (§4 K); DingTalk takes at most 20 staff ids."""
    if not 1 <= len(user_ids) <= 20:
        raise ValueError("oToMessages/batchSend takes 1 to 20 staff ids")
    return {"robotCode": robot_code, "userIds": list(user_ids), **_msg_key_param(message)}


# ---------------------------------------------------------------------- success bodies


def decode_json(body: bytes) -> Any:
    """The JSON value of ``body``, or ``None`` when it is empty or not JSON."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _malformed(operation: Operation, what: str) -> PlatformUnavailable:
    return PlatformUnavailable(f"malformed success body: {what}", operation=operation.value)


def parse_access_token(body: Any) -> AccessToken:
    """``{"accessToken": …, "expireIn": 7200}`` → ``AccessToken``."""
    op = Operation.ACCESS_TOKEN
    if not isinstance(body, dict):
        raise _malformed(op, "not an object")
    token, expire_in = body.get("accessToken"), body.get("expireIn")
    if not isinstance(token, str) or not token:
        raise _malformed(op, "no accessToken")
    if not isinstance(expire_in, int | float) or isinstance(expire_in, bool) or expire_in <= 0:
        raise _malformed(op, "no positive expireIn")
    return AccessToken(token, float(expire_in))


def parse_stream_ticket(body: Any) -> StreamTicket:
    """``{"endpoint": "wss://…", "ticket": …}`` → ``StreamTicket`` (extra keys ignored)."""
    op = Operation.GATEWAY_OPEN
    if not isinstance(body, dict):
        raise _malformed(op, "not an object")
    endpoint, ticket = body.get("endpoint"), body.get("ticket")
    if not isinstance(endpoint, str) or not endpoint:
        raise _malformed(op, "no endpoint")
    if not isinstance(ticket, str) or not ticket:
        raise _malformed(op, "no ticket")
    return StreamTicket(endpoint, ticket)


def parse_prepare(body: Any) -> str:
    """The ``conversationToken`` of a prepare answer ``{"result": {…}}``."""
    result = body.get("result") if isinstance(body, dict) else None
    token = result.get("conversationToken") if isinstance(result, dict) else None
    if not isinstance(token, str) or not token:
        raise _malformed(Operation.AI_PREPARE, "no result.conversationToken")
    return token


def require_success(operation: Operation, body: Any) -> None:
    """Accept ``{"success": true}`` or ``{"result": {"success": true}}`` (§3.6, §9.2).

    A body that says ``success: false`` without an error code is a refusal; a body with
    neither form is accepted, since "any 2xx with a JSON body is success" (§2).
    """
    if not isinstance(body, dict):
        return
    flags: list[object] = []
    if "success" in body:
        flags.append(body["success"])
    result = body.get("result")
    if isinstance(result, dict) and "success" in result:
        flags.append(result["success"])
    if any(flag is False for flag in flags):
        raise PlatformRejected(
            "the platform answered success: false", operation=operation.value, status=200
        )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def parse_robot_send(operation: Operation, body: Any) -> RobotSendResult:
    """``{"processQueryKey": …}`` plus, for batchSend, the staff id lists (§4 K/L)."""
    key = body.get("processQueryKey") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key:
        raise _malformed(operation, "no processQueryKey")
    assert isinstance(body, dict)
    return RobotSendResult(
        process_query_key=key,
        invalid_staff_ids=_strings(body.get("invalidStaffIdList")),
        flow_controlled_staff_ids=_strings(body.get("flowControlledStaffIdList")),
        filtered_staff_ids=_strings(body.get("filteredStaffIdList")),
    )
