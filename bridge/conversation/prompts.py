"""System prompts from ``prompts/``: one template per assistant and conversation type.

A template is a Markdown file with ``{variable}`` fields (``str.format`` syntax, ``{{``
for a literal brace). ``prompts/<name>.md`` is the assistant's prompt; an optional
``prompts/<name>.<type>.md`` (``single``, ``group`` or ``magic_wand``) overrides it for
that conversation type. Every template is read and checked once at start-up, so a typo in
a variable name is a ``ConfigError`` naming the file before the first message arrives,
never a crash in the middle of a conversation.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from bridge.errors import ConfigError

ConversationType = Literal["single", "group", "magic_wand"]
CONVERSATION_TYPES: tuple[ConversationType, ...] = ("single", "group", "magic_wand")

VARIABLES = frozenset(
    {"assistant_name", "sender_name", "conversation_title", "conversation_type", "date"}
)


@dataclass(frozen=True, slots=True)
class PromptContext:
    """The values a template may use."""

    assistant_name: str
    sender_name: str
    conversation_title: str
    conversation_type: ConversationType
    date: date

    def as_mapping(self) -> dict[str, str]:
        return {
            "assistant_name": self.assistant_name,
            "sender_name": self.sender_name,
            "conversation_title": self.conversation_title,
            "conversation_type": self.conversation_type,
            "date": self.date.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """One checked template file."""

    path: Path
    text: str

    def render(self, context: PromptContext) -> str:
        return self.text.format_map(context.as_mapping()).strip()


@dataclass(frozen=True, slots=True)
class PromptSet:
    """An assistant's templates: the base one and per-conversation-type overrides."""

    base: PromptTemplate
    by_type: dict[ConversationType, PromptTemplate]

    def render(self, context: PromptContext) -> str:
        return self.by_type.get(context.conversation_type, self.base).render(context)


def load_prompt_set(directory: Path, name: str) -> PromptSet:
    """Read and check ``<directory>/<name>.md`` and its per-type overrides."""
    base_path = directory / f"{name}.md"
    if not base_path.is_file():
        raise ConfigError(f"prompt template {name!r} not found", file=str(base_path))
    base = _load_template(base_path)
    by_type = {}
    for kind in CONVERSATION_TYPES:
        path = directory / f"{name}.{kind}.md"
        if path.is_file():
            by_type[kind] = _load_template(path)
    return PromptSet(base=base, by_type=by_type)


def _load_template(path: Path) -> PromptTemplate:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the prompt template: {exc}", file=str(path)) from exc
    _check_fields(path, text)
    return PromptTemplate(path=path, text=text)


def _check_fields(path: Path, text: str) -> None:
    known = ", ".join(sorted(VARIABLES))
    try:
        fields = [
            (line_no, field)
            for line_no, line in enumerate(text.splitlines(), start=1)
            for _, field, _, _ in string.Formatter().parse(line)
            if field is not None
        ]
    except ValueError as exc:
        raise ConfigError(
            f"bad template syntax ({exc}); write {{{{ and }}}} for literal braces",
            file=str(path),
        ) from exc
    for line_no, field in fields:
        if field not in VARIABLES:
            shown = field or "{}"
            raise ConfigError(
                f"line {line_no}: unknown variable {shown!r} (known: {known})", file=str(path)
            )
