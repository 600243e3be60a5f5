"""Prompt templates: checked at start-up, rendered per conversation type."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bridge.conversation.prompts import PromptContext, load_prompt_set
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def context(kind: str = "single") -> PromptContext:
    return PromptContext(
        assistant_name="小助手",
        sender_name="Alice",
        conversation_title="研发群",
        conversation_type=kind,  # type: ignore[arg-type]
        date=date(2026, 11, 24),
    )


def test_shipped_prompts_load_and_render() -> None:
    """prompts/default.md renders with every variable filled in."""
    prompts = load_prompt_set(ROOT / "prompts", "default")
    text = prompts.render(context())
    assert "小助手" in text
    assert "Alice" in text
    assert "2026-11-24" in text
    assert "{" not in text


def test_group_override_is_used_in_groups_only(tmp_path: Path) -> None:
    """A <name>.group.md template replaces the base prompt in group chats."""
    (tmp_path / "p.md").write_text("base {sender_name}", encoding="utf-8")
    (tmp_path / "p.group.md").write_text("group {conversation_title}", encoding="utf-8")
    prompts = load_prompt_set(tmp_path, "p")
    assert prompts.render(context("single")) == "base Alice"
    assert prompts.render(context("group")) == "group 研发群"
    assert prompts.render(context("magic_wand")) == "base Alice"


def test_unknown_variable_names_file_and_line(tmp_path: Path) -> None:
    """A misspelled variable is a ConfigError naming the file, the line and the variable."""
    path = tmp_path / "p.md"
    path.write_text("hello\nhi {sender_nmae}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_prompt_set(tmp_path, "p")
    assert str(info.value).startswith(f"{path}: line 2: unknown variable 'sender_nmae'")


def test_unknown_variable_in_override_is_caught(tmp_path: Path) -> None:
    """Overrides are checked at load time too, not when a group message arrives."""
    (tmp_path / "p.md").write_text("ok", encoding="utf-8")
    (tmp_path / "p.magic_wand.md").write_text("{weather}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p\.magic_wand\.md: line 1: unknown variable"):
        load_prompt_set(tmp_path, "p")


def test_literal_braces_are_allowed(tmp_path: Path) -> None:
    """{{ and }} render as literal braces."""
    (tmp_path / "p.md").write_text('JSON like {{"a": 1}} for {sender_name}', encoding="utf-8")
    assert load_prompt_set(tmp_path, "p").render(context()) == 'JSON like {"a": 1} for Alice'


def test_unbalanced_brace_is_a_config_error(tmp_path: Path) -> None:
    """A lone brace is reported with how to write a literal one."""
    (tmp_path / "p.md").write_text("oops { here", encoding="utf-8")
    with pytest.raises(ConfigError, match="literal braces"):
        load_prompt_set(tmp_path, "p")


def test_missing_template_is_a_config_error(tmp_path: Path) -> None:
    """A prompt name with no file is refused at start-up."""
    with pytest.raises(ConfigError, match="prompt template 'nope' not found"):
        load_prompt_set(tmp_path, "nope")
