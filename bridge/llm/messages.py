"""The chat messages a prompt is made of, as the rest of bridge builds them.

``ChatMessage`` is the one typed value that crosses from the conversation layer (prompt
rendering, history) into the LLM layer (token budget, the openai request). Nothing past
``bridge.llm.source`` sees an openai message type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt."""

    role: Role
    content: str

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        """A system message."""
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        """A user message."""
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str) -> ChatMessage:
        """An assistant message."""
        return cls("assistant", content)
