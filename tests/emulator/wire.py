"""Request builders shared by the emulator tests (raw wire JSON, as a client sends it)."""

from __future__ import annotations

import json
from typing import Any

TEMPLATE = "test-markdown.schema"
"""An AI card template the tests create (``emulator`` fixture): the emulator knows no other."""


def streaming(
    value: str,
    *,
    finalize: bool = False,
    full: bool | None = None,
    key: str = "content",
    template: str = TEMPLATE,
) -> str:
    """An ``ai_card`` streaming content, as the JSON string the contract asks for."""
    card_data: dict[str, Any] = {"key": key, "value": value, "isFinalize": finalize}
    if full is not None:
        card_data["isFull"] = full
    return json.dumps(
        {
            "templateId": template,
            "cardData": card_data,
            "options": {"componentTag": "streamingComponent"},
        }
    )


def static(card_data: dict[str, Any], *, template: str = TEMPLATE) -> str:
    """An ``ai_card`` static content."""
    return json.dumps(
        {
            "templateId": template,
            "cardData": card_data,
            "options": {"componentTag": "staticComponent"},
        }
    )


def ai_body(token: str, content: Any, content_type: str = "ai_card") -> dict[str, Any]:
    """A reply/update body."""
    return {"conversationToken": token, "contentType": content_type, "content": content}
