"""The `bridge` command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = Path(sys.executable).parent / "bridge"
ASSISTANT = """
[delivery]
ai_template_id = "t.schema"

[[assistants]]
name = "helpdesk"
client_id = "ding-helpdesk"
client_secret = 's'
"""
"""A valid assistant; the prompts are the repository's (commands run in its root)."""


def run_bridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`bridge ARGS` run to its end in the repository's root, with only ``env`` set."""
    full_env = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    return subprocess.run(
        [str(BRIDGE), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_config_check_prints_resolved_config_masked() -> None:
    """`bridge config check config.example.toml` prints the config with secrets masked."""
    result = run_bridge(
        "config",
        "check",
        str(ROOT / "config.example.toml"),
        env={
            "OPENAI_API_KEY": "sk-live-abc",
            "DINGTALK_CLIENT_SECRET": "dt-live-xyz",
            "BRIDGE_PUSH_TOKEN": "push-live",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "[pacing]" in result.stdout
    assert 'client_secret = "**********"' in result.stdout
    assert "sk-live-abc" not in result.stdout + result.stderr
    assert "dt-live-xyz" not in result.stdout + result.stderr


def test_config_check_misspelled_key_names_it(tmp_path: Path) -> None:
    """A misspelled key gives one error line naming file and key, and exit code 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[pacing]\nmin_intreval = 0.5\n", encoding="utf-8")
    result = run_bridge("config", "check", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bad}: pacing.min_intreval: unknown key")
    assert "Traceback" not in result.stderr


def test_config_check_reports_every_missing_variable_at_once() -> None:
    """Without the example's three secrets, one line names all three and their keys."""
    result = run_bridge("config", "check", str(ROOT / "config.example.toml"))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for name, key in [
        ("OPENAI_API_KEY", "llm.api_key"),
        ("BRIDGE_PUSH_TOKEN", "serve.push_token"),
        ("DINGTALK_CLIENT_SECRET", "assistants.0.client_secret"),
    ]:
        assert f"{name} ({key})" in lines[0]
    assert "Traceback" not in result.stderr


def test_readme_dry_run_of_the_example_passes() -> None:
    """The README's one-liner (dummy values for the three variables) checks the example."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    dummy = {"OPENAI_API_KEY": "x", "BRIDGE_PUSH_TOKEN": "x", "DINGTALK_CLIENT_SECRET": "x"}
    line = " ".join(f"{name}=x" for name in dummy) + " bridge config check config.example.toml"
    assert line in readme
    result = run_bridge("config", "check", "config.example.toml", env=dummy)
    assert result.returncode == 0, result.stderr


MISTAKES = {
    "no assistants": ("[llm]\nmodel = 'x'\n", "at least one [[assistants]]"),
    "missing prompt": (ASSISTANT + "prompt = 'nope'\n", "prompt template 'nope' not found"),
    "empty secret": (
        ASSISTANT.replace("'s'", "'${EMPTY}'"),
        "assistants.0.client_secret: is empty",
    ),
    "reply host with a scheme": (
        "[dingtalk]\nreply_hosts = ['https://api.dingtalk.com']\n" + ASSISTANT,
        "dingtalk.reply_hosts",
    ),
    "model URL without a scheme": (
        "[llm]\nbase_url = 'api.deepseek.com/v1'\n" + ASSISTANT,
        "llm.base_url: must be an http(s) URL",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_config_check_rejects_what_serve_rejects(tmp_path: Path, mistake: str) -> None:
    """`config check` and `serve` give the same one error line for a start-up mistake."""
    text, words = MISTAKES[mistake]
    config = tmp_path / "bridge.toml"
    config.write_text(text, encoding="utf-8")
    env = {"EMPTY": ""}
    checked = run_bridge("config", "check", str(config), env=env)
    served = run_bridge("serve", "--config", str(config), env=env)
    for result in (checked, served):
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: ")
        assert words in result.stderr
    assert checked.stderr == served.stderr
    assert checked.stdout == ""


def test_config_check_rejects_an_unknown_prompt_variable(tmp_path: Path) -> None:
    """A template with an unknown variable fails `config check`, naming file and line."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "default.md").write_text("Hello {sender_name}, {mood}\n", encoding="utf-8")
    config = tmp_path / "bridge.toml"
    config.write_text(f"[serve]\nprompts_dir = '{prompts}'\n" + ASSISTANT, encoding="utf-8")
    result = run_bridge("config", "check", str(config))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {prompts / 'default.md'}: line 1: unknown variable")
    assert "'mood'" in result.stderr
