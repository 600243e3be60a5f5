"""The surface interface: one way of showing a reply in DingTalk.

A surface either streams (``open`` returns a ``LiveMessage`` that is updated with the
full text so far and closed once) or only sends one finished message (``send_once``).
Concrete surfaces (AI reply stream, AI stepwise, AI card, webhooks, robot send) live in
their own modules on top of ``bridge.dingtalk``; the relay and the router only know
this protocol, and tests use in-memory fakes of it.
"""

from __future__ import annotations

from typing import Protocol


class LiveMessage(Protocol):
    """A message that is open in DingTalk and must be closed exactly once."""

    async def update(self, text: str) -> None:
        """Show ``text`` (the full text so far, never a delta)."""

    async def close(self, text: str, *, ok: bool) -> None:
        """Show the final ``text`` and finish the message; ``ok=False`` marks it failed."""


class Surface(Protocol):
    """One way of delivering a reply."""

    @property
    def name(self) -> str:
        """The surface's config name (``ai_reply``, ``ai_card``…)."""

    @property
    def can_stream(self) -> bool:
        """True when ``open`` is supported; one-shot surfaces only ``send_once``."""

    async def open(self) -> LiveMessage:
        """Open a message in its preparing/inputting state."""

    # Optional: a surface that can show only one message per reply (reply mode, whose
    # conversationToken drives a single message) sets ``single_message = True``; the
    # relay then never splits an answer that no other candidate could continue.

    async def send_once(self, text: str) -> None:
        """Deliver ``text`` as one finished message."""
