"""The assistant's own @mention, taken out of the text the model is given.

In a group a user reaches the assistant by @-mentioning it, and the mention is not part
of the question: "@Bridge Dev 你好" asks "你好". What arrives differs by door:

- a robot message (§11): DingTalk removes the robot's own "@name" from ``text.content``
  and leaves the space after it (``" 你好"``); other mentions stay as plain "@nick"
  text. ``isInAtList`` (or the robot's ``chatbotUserId`` among ``atUsers``) says the
  robot was mentioned. A sender that did not strip it sends the name too, so bridge
  strips it itself;
- an AI-assistant action: ``rawInput`` is the raw input and may carry "@Bridge Dev"
  (undocumented); the context has no at-list.

bridge cannot learn the assistant's display name from DingTalk: ``[[assistants]]
display_names`` lists it (and any other name users type). **The rule:** an "@<display
name>" is removed everywhere in the text when the message says the assistant was
mentioned (``mentioned=True``), and otherwise only at the very start; a name ends where
no ASCII letter, digit or ``_`` follows ("@Bridge Dev你好" mentions Bridge Dev,
"@Bridge Developer" does not); the longest name wins; whitespace around the removed
mention collapses, and the text is trimmed. Mentions of anyone else stay untouched.
Without display names only the trim applies.

A message of several pieces (a rich text: text around pictures) follows the same rule
piece by piece (``strip_own_mentions_in``): "the very start" is the start of its first
piece, and only the message's two ends are trimmed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Stripped", "bot_mentioned", "strip_own_mentions", "strip_own_mentions_in"]

T = TypeVar("T")

_NAME_ENDS = r"(?![A-Za-z0-9_])"


@dataclass(frozen=True, slots=True)
class Stripped:
    """The text without the assistant's own mentions, and whether there was one."""

    text: str
    found: bool


def strip_own_mentions(text: str, names: Sequence[str], *, mentioned: bool) -> Stripped:
    """``text`` without "@name" for the assistant's ``names`` (the module's rule)."""
    pattern = _pattern(names)
    if pattern is None:
        return Stripped(text.strip(), found=False)
    if mentioned:
        # Each mention and the blank after it: "请 @Bridge Dev 看看" → "请 看看".
        stripped, count = pattern.subn("", text)
        return Stripped(stripped.strip(), found=count > 0)
    leading = pattern.match(text.lstrip())
    if leading is None:
        return Stripped(text.strip(), found=False)
    return Stripped(text.lstrip()[leading.end() :].strip(), found=True)


def strip_own_mentions_in(
    pieces: Sequence[str | T], names: Sequence[str], *, mentioned: bool
) -> tuple[str | T, ...]:
    """``pieces`` (text and other things, in order) without the assistant's "@name".

    Texts lose their mentions by the module's rule, the message's first and last text
    are trimmed at its ends, and texts left empty go; other pieces stay as they are.
    """
    out = list(pieces)
    pattern = _pattern(names)
    if pattern is not None and mentioned:
        out = [pattern.sub("", p) if isinstance(p, str) else p for p in out]
    elif pattern is not None and out and isinstance(out[0], str):
        leading = pattern.match(out[0].lstrip())
        if leading is not None:
            out[0] = out[0].lstrip()[leading.end() :]
    if out and isinstance(out[0], str):
        out[0] = out[0].lstrip()
    if out and isinstance(out[-1], str):
        out[-1] = out[-1].rstrip()
    return tuple(p for p in out if not isinstance(p, str) or p)


def bot_mentioned(data: Mapping[str, Any]) -> bool:
    """True when a robot message says the robot is mentioned: ``isInAtList``, or its
    ``chatbotUserId`` among the ``atUsers`` ``dingtalkId``s."""
    if data.get("isInAtList") is True:
        return True
    bot = data.get("chatbotUserId")
    at_users = data.get("atUsers")
    if not isinstance(bot, str) or not bot or not isinstance(at_users, list):
        return False
    return any(isinstance(u, dict) and u.get("dingtalkId") == bot for u in at_users)


def _pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """ "@name" for any of ``names`` (longest first), with the blanks after it."""
    usable = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
    if not usable:
        return None
    alternatives = "|".join(re.escape(n) for n in usable)
    return re.compile(rf"(?:(?<=\s)|^)@(?:{alternatives}){_NAME_ENDS}\s*")
