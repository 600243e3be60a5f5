"""Which reply a log line belongs to: assistant, conversation, reply id, surface, message id.

The pipeline opens a ``reply_context`` where a Turn starts being answered; every log
record created inside it, by any logger (ours, openai's, httpx2's) and in any task the
reply starts, carries the context as record attributes (``assistant``, ``conversation``,
``reply``, ``surface``, ``message_id``) plus ``context``, the same fields preformatted as a
`` [key=value …]`` suffix for text logs. The surface and message id are learnt later,
when a surface takes the reply; ``note_surface`` fills them in for the rest of it.

The context is a mutable object held by a ``ContextVar``: anyio copies the context into
each child task, so the reply's child tasks share the object and see what is learnt
after they started. The record factory is installed once (``install``), globally,
because that is how ``logging`` lets every handler see the same attributes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["FIELDS", "ReplyContext", "current", "install", "note_surface", "reply_context"]

FIELDS = ("assistant", "conversation", "reply", "surface", "message_id")


@dataclass(slots=True)
class ReplyContext:
    """The ids of one reply in flight."""

    assistant: str
    conversation: str
    reply: str
    surface: str = ""
    message_id: str = ""

    def suffix(self) -> str:
        """`` [assistant=… conversation=… reply=…]``, with surface and message once known."""
        parts = [f"{name}={value}" for name in FIELDS if (value := getattr(self, name))]
        return f" [{' '.join(parts)}]"


_current: ContextVar[ReplyContext | None] = ContextVar("bridge_reply_context", default=None)


def current() -> ReplyContext | None:
    """The reply this code runs for, if any."""
    return _current.get()


@contextmanager
def reply_context(assistant: str, conversation: str) -> Iterator[ReplyContext]:
    """Bind a fresh reply id (and the Turn's ids) to every log line inside the block."""
    context = ReplyContext(assistant, conversation, uuid.uuid4().hex[:12])
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def note_surface(surface: str, message: str | None = None) -> None:
    """The surface (and open message id) now carrying the current reply, if any."""
    context = _current.get()
    if context is not None:
        context.surface = surface
        if message is not None:
            context.message_id = message


class _ContextRecordFactory:
    """Wraps logging's record factory to stamp the reply context on every record."""

    def __init__(self, base: Callable[..., logging.LogRecord]) -> None:
        self.base = base

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        context = _current.get()
        for name in FIELDS:
            setattr(record, name, getattr(context, name) if context is not None else "")
        record.context = context.suffix() if context is not None else ""
        return record


def install() -> None:
    """Make every log record carry the reply context; idempotent."""
    if not isinstance(logging.getLogRecordFactory(), _ContextRecordFactory):
        logging.setLogRecordFactory(_ContextRecordFactory(logging.getLogRecordFactory()))
