"""What a completion request asked, as the simulated model reads and records it.

A message's ``content`` is a string or, in OpenAI's chat format, a list of content
parts: ``{"type": "text", "text"}`` and ``{"type": "image_url", "image_url": {"url"}}``
(a ``data:<type>;base64,…`` URL, or a link). ``read_prompt`` checks the parts the way
a vision server does (an image part without a usable URL, or a data URL that is not
base64, is a 400) and records each message: its text (the text parts joined) and its
parts in order, images with their media type and bytes (base64 in the record), so a
test can compare what the model received with what it sent.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import Field

from bridge.emulator.control.views import View

__all__ = ["PromptMessage", "PromptPart", "last_user", "read_prompt"]


class PromptPart(View):
    """One content part of a message: text, or an image (bytes base64, or a link)."""

    type: Literal["text", "image"]
    text: str = ""
    media_type: str = ""
    data: str = ""  # the image's bytes, base64
    url: str = ""  # an image given by link instead
    size: int = 0

    def image_bytes(self) -> bytes:
        """The image's bytes as received (empty for a text part or a link)."""
        return base64.b64decode(self.data) if self.data else b""


class PromptMessage(View):
    """One message of a completion request, as the model received it.

    ``content`` is its text; ``parts`` lists its content parts in order when it came as
    a list (a message showing images), empty when it was a plain string.
    """

    role: str
    content: str
    parts: list[PromptPart] = Field(default_factory=list)

    @property
    def images(self) -> list[PromptPart]:
        """Its image parts, in order."""
        return [p for p in self.parts if p.type == "image"]


def read_prompt(messages: list[Any]) -> list[PromptMessage]:
    """The request's messages as records; ``ValueError`` for a malformed content part."""
    return [_message(m) for m in messages if isinstance(m, dict)]


def last_user(prompt: list[PromptMessage]) -> PromptMessage | None:
    """The last user message, if any."""
    return next((m for m in reversed(prompt) if m.role == "user"), None)


def _message(message: dict[str, Any]) -> PromptMessage:
    role = str(message.get("role", ""))
    content = message.get("content")
    if not isinstance(content, list):
        return PromptMessage(role=role, content=content if isinstance(content, str) else "")
    parts = [_part(p) for p in content if isinstance(p, dict)]
    text = "".join(p.text for p in parts if p.type == "text")
    return PromptMessage(role=role, content=text, parts=parts)


def _part(part: dict[str, Any]) -> PromptPart:
    kind = part.get("type")
    if kind == "text":
        return PromptPart(type="text", text=str(part.get("text", "")))
    if kind != "image_url":
        raise ValueError(f"unsupported content part type {kind!r}")
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url:
        raise ValueError("an image_url part needs image_url.url")
    if not url.startswith("data:"):
        return PromptPart(type="image", url=url)
    header, comma, encoded = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise ValueError("an image data URL must be data:<type>;base64,<data>")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the image data is not base64: {exc}") from None
    media_type = header.removeprefix("data:").removesuffix(";base64")
    return PromptPart(type="image", media_type=media_type, data=encoded, size=len(data))
