"""The chat messages a prompt is made of, as the rest of bridge builds them.

``ChatMessage`` is the one typed value that crosses from the conversation layer (prompt
rendering, history) into the LLM layer (token budget, the openai request). Nothing
outside ``bridge.llm`` sees an openai message type: only ``openai_content`` speaks one,
for ``bridge.llm.source``.

A user message may show pictures to a model that sees (``[llm] vision``): its ``parts``
are then its text and ``ImagePart``s in order, sent as OpenAI chat content parts
(``openai_content``: ``{"type": "text"}`` and ``{"type": "image_url"}`` with a
``data:`` URL), while ``content`` stays the message as text with ``[图片]`` where each
picture is, which is what the token budget counts and logs show. A picture costs the
model tokens of its own that this count does not include.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

from openai.types.chat import ChatCompletionContentPartParam

Role = Literal["system", "user", "assistant"]

PICTURE_TEXT = "[图片]"
"""What stands for a picture in ``ChatMessage.content``."""


@dataclass(frozen=True, slots=True)
class ImagePart:
    """A picture shown to the model: its bytes and their media type (``image/png``)."""

    media_type: str
    data: bytes

    def data_url(self) -> str:
        """The picture as a ``data:`` URL, the form every OpenAI-compatible server takes."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def __repr__(self) -> str:
        return f"ImagePart(media_type={self.media_type!r}, {len(self.data)} bytes)"


ContentPart = str | ImagePart
"""A piece of a user message: text, or a picture."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt; ``parts`` only when it shows pictures."""

    role: Role
    content: str
    parts: tuple[ContentPart, ...] = ()

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        """A system message."""
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        """A user message."""
        return cls("user", content)

    @classmethod
    def user_parts(cls, parts: tuple[ContentPart, ...]) -> ChatMessage:
        """A user message of text and pictures in order; plain text when it has none.

        Neighbouring texts are joined and empty ones dropped.
        """
        merged: list[ContentPart] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part != "":
                merged.append(part)
        content = "".join(p if isinstance(p, str) else PICTURE_TEXT for p in merged)
        if not any(isinstance(p, ImagePart) for p in merged):
            return cls("user", content)
        return cls("user", content, tuple(merged))

    @classmethod
    def assistant(cls, content: str) -> ChatMessage:
        """An assistant message."""
        return cls("assistant", content)

    def openai_content(self) -> str | list[ChatCompletionContentPartParam]:
        """The ``content`` of the openai request: the text, or the parts in order."""
        if not self.parts:
            return self.content
        return [
            {"type": "text", "text": p}
            if isinstance(p, str)
            else {"type": "image_url", "image_url": {"url": p.data_url()}}
            for p in self.parts
        ]
