"""Card templates and the message bodies of the contract: what they mean on screen.

The emulator has to validate an ``ai_card`` content exactly as the platform does (§3.1:
JSON string or object, ``templateId`` required and known, ``componentTag`` static or
streaming, streaming ``key``/``value``/``isFinalize``) and to know which text a chat user
would see for each body format (cards, basic card schema, robot ``msgtype``s and
``msgKey``s). Both live here, apart from the HTTP handlers and the state changes.

**Which templates exist.** On DingTalk an organisation creates its own card templates
in the card platform; nothing else knows them. So the emulator knows only the templates
a test, the sandbox or ``bridge emulator --print-config`` created through the control
API (``POST /_emulator/templates``), plus the two DingTalk itself publishes for its
official SDKs (``platform_templates``): the Stream SDK's AI card and the markdown card
its AI-assistant webhook replies use. Any other id is answered "card template not
exist", as on the platform.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from bridge.emulator.control.views import TemplateView
from bridge.emulator.errors import EmulatorError, Rejection, bad_request

STREAM_SDK_CARD = "382e4302-551d-4880-bf29-a30acfab2e71.schema"
AGENT_MARKDOWN = "d28e2ac5-fb34-4d93-94bc-cf5c580c2d4f.schema"


@dataclass(frozen=True, slots=True)
class Template:
    """A card template: which variable holds the visible text, which ones may stream."""

    template_id: str
    text_variable: str
    streaming_variables: frozenset[str]

    def view(self) -> TemplateView:
        """The control-API shape."""
        return TemplateView(
            template_id=self.template_id,
            text_variable=self.text_variable,
            streaming_variables=sorted(self.streaming_variables),
        )


def platform_templates() -> list[Template]:
    """The templates DingTalk publishes with its SDKs: the Stream SDK's and the webhook's."""
    return [
        Template(STREAM_SDK_CARD, "msgContent", frozenset({"msgContent"})),
        Template(AGENT_MARKDOWN, "content", frozenset({"content"})),
    ]


class Templates:
    """The template registry: the platform's own, then whatever the control API added."""

    def __init__(self) -> None:
        self._templates: dict[str, Template] = {}
        for template in platform_templates():
            self.register(template)

    def register(self, template: Template) -> Template:
        """Add or replace a template."""
        if not template.text_variable:
            raise EmulatorError("a template needs a text variable")
        self._templates[template.template_id] = template
        return template

    def get(self, template_id: str) -> Template | None:
        """The template with this id, if known."""
        return self._templates.get(template_id)

    def all(self) -> list[Template]:
        """Every template, in registration order."""
        return list(self._templates.values())


# -- ai_card content (aiInteraction, §3.1) -------------------------------------------------


def invalid_content(message: str) -> Rejection:
    """A 400 ``invalid.content``."""
    return bad_request("invalid.content", message)


@dataclass(frozen=True, slots=True)
class Streaming:
    """A streaming update of one variable."""

    key: str
    value: str
    is_finalize: bool
    is_full: bool


@dataclass(frozen=True, slots=True)
class AiCard:
    """A parsed ``ai_card`` content: a static variable map or one streaming change."""

    template: Template
    component: Literal["static", "streaming"]
    card_data: dict[str, Any]
    streaming: Streaming | None


def decode_json_object(raw: object) -> dict[str, Any] | None:
    """``raw`` as a JSON object: an object as is, a string parsed; None if neither works."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return None


def parse_ai_card(raw: object, templates: Templates, pinned: str | None) -> AiCard:
    """Validate an ``ai_card`` content as aiInteraction does, or raise its ``Rejection``."""
    if raw is None or raw == "":
        raise invalid_content("templateId cannot be null or empty")
    content = decode_json_object(raw)
    if content is None:
        raise invalid_content("content must be a JSON object string")
    template_id = content.get("templateId")
    if not isinstance(template_id, str) or not template_id:
        raise invalid_content("templateId cannot be null or empty")
    template = templates.get(template_id)
    if template is None:
        raise invalid_content("card template not exist")
    if pinned is not None and template_id != pinned:
        raise invalid_content("templateId in content is not equal to templateId in context")
    options = content.get("options") or {}
    if not isinstance(options, dict):
        raise invalid_content("options must be an object")
    tag = options.get("componentTag", "staticComponent")
    raw_data = content.get("cardData") or {}
    card_data = decode_json_object(raw_data)
    if card_data is None:
        raise invalid_content("cardData must be an object or a JSON object string")
    if tag == "staticComponent":
        return AiCard(template, "static", card_data, None)
    if tag != "streamingComponent":
        raise invalid_content("invalid componentTag")
    key = card_data.get("key")
    if not isinstance(key, str) or key not in template.streaming_variables:
        raise invalid_content("card streaming key invalid")
    value = card_data.get("value")
    if not isinstance(value, str):
        raise invalid_content("card streaming value is required")
    is_finalize = card_data.get("isFinalize")
    if not isinstance(is_finalize, bool):
        raise invalid_content("card streaming isFinalize is required")
    is_full = card_data.get("isFull", True)
    if not isinstance(is_full, bool):
        raise invalid_content("card streaming isFull must be a boolean")
    return AiCard(template, "streaming", card_data, Streaming(key, value, is_finalize, is_full))


def visible_text(template: Template, card_data: dict[str, Any]) -> str:
    """The text a card shows: its template's text variable."""
    value = card_data.get(template.text_variable, "")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def basic_card_text(raw: object) -> str:
    """The text of a ``basic_card_schema`` content (header title, then text contents)."""
    card = decode_json_object(raw)
    if card is None:
        raise invalid_content("content must be a JSON object string")
    parts: list[str] = []
    header = card.get("header")
    if isinstance(header, dict) and isinstance(header.get("title"), dict):
        title = header["title"].get("text")
        if isinstance(title, str):
            parts.append(title)
    contents = card.get("contents")
    if isinstance(contents, list):
        for item in contents:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(item["text"])
    if not parts:
        raise invalid_content("basic card has no text")
    return "\n".join(parts)


# -- robot messages (§4 K/L, §5 G) ---------------------------------------------------------


def _field(data: dict[str, Any], *names: str) -> str | None:
    """The first of ``names`` that holds a string."""
    for name in names:
        value = data.get(name)
        if isinstance(value, str):
            return value
    return None


def robot_webhook_text(body: dict[str, Any]) -> str:
    """The text a ``sendBySession`` body shows; ``ValueError`` names what is malformed."""
    msgtype = body.get("msgtype")
    section = body.get(msgtype) if isinstance(msgtype, str) else None
    if msgtype == "empty":
        return ""
    if msgtype not in ("text", "markdown", "actionCard", "link", "feedCard"):
        raise ValueError("msgtype 不合法")
    if not isinstance(section, dict):
        raise ValueError(f"缺少参数 {msgtype}")
    if msgtype == "text":
        text = _field(section, "content")
        if text is None:
            raise ValueError("缺少参数 text.content")
        return text
    if msgtype == "feedCard":
        links = section.get("links")
        if not isinstance(links, list) or not links:
            raise ValueError("缺少参数 feedCard.links")
        return "\n".join(_field(link, "title") or "" for link in links if isinstance(link, dict))
    title, text = _field(section, "title"), _field(section, "text")
    if msgtype == "markdown" and (title is None or text is None):
        raise ValueError("缺少参数 markdown.title/markdown.text")
    if text is None:
        raise ValueError(f"缺少参数 {msgtype}.text")
    return text if msgtype == "markdown" else f"{title or ''}\n{text}".strip()


ROBOT_MSG_KEYS = (
    "sampleText",
    "sampleMarkdown",
    "sampleLink",
    "sampleImageMsg",
    "sampleActionCard",
    "sampleActionCard2",
    "sampleActionCard3",
    "sampleActionCard4",
    "sampleActionCard5",
    "sampleActionCard6",
)


def robot_message_text(msg_key: object, msg_param: object, max_bytes: int) -> str:
    """The text of a robot ``msgKey``/``msgParam`` pair, or the 400 the API gives."""
    if msg_key not in ROBOT_MSG_KEYS:
        raise bad_request("invalid.param", "msgKey is invalid")
    if not isinstance(msg_param, str):
        raise bad_request("invalid.param", "msgParam must be a JSON string")
    if len(msg_param.encode("utf-8")) > max_bytes:
        raise bad_request("invalid.param", f"msgParam is longer than {max_bytes} bytes")
    param = decode_json_object(msg_param)
    if param is None:
        raise bad_request("invalid.param", "msgParam is not a JSON object")
    if msg_key == "sampleText":
        text = _field(param, "content")
    elif msg_key == "sampleImageMsg":
        text = _field(param, "photoURL")
    else:
        text = _field(param, "text")
    if text is None:
        raise bad_request("invalid.param", f"msgParam lacks the text of {msg_key}")
    return text
