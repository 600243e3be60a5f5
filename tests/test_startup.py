"""Tests of bridge.startup: the start-up checks serve and `config check` share, and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config
from bridge.errors import ConfigError
from bridge.startup import check_startup, summary

ROOT = Path(__file__).resolve().parent.parent


def config(**sections: Any) -> Config:
    """A valid configuration (the repository's prompts), with ``sections`` merged in."""
    settings: dict[str, Any] = {
        "delivery": {"ai_template_id": "t.schema"},
        "serve": {"prompts_dir": str(ROOT / "prompts"), "state": ":memory:"},
        "assistants": [{"name": "helpdesk", "client_id": "ding-1", "client_secret": "s"}],
    }
    for name, values in sections.items():
        merge = isinstance(values, dict)
        settings[name] = {**settings.get(name, {}), **values} if merge else values
    return Config.model_validate(settings)


def problem(checked: Config, **options: Any) -> str:
    """The message of the ConfigError the checks raise."""
    with pytest.raises(ConfigError) as caught:
        check_startup(checked, source="bridge.toml", **options)
    return str(caught.value)


def test_a_valid_config_gives_each_assistant_its_checked_prompts() -> None:
    """The prompt templates read by the checks are returned, one set per assistant."""
    checked = check_startup(config())
    assert list(checked.prompts) == ["helpdesk"]
    assert checked.prompts["helpdesk"].base.path == ROOT / "prompts" / "default.md"


def test_no_assistant_is_refused() -> None:
    """Without [[assistants]] there is nothing to serve."""
    assert problem(config(assistants=[])) == (
        "bridge.toml: at least one [[assistants]] table is required"
    )


def test_a_missing_prompt_names_its_file(tmp_path: Path) -> None:
    """An assistant's prompt that does not exist names the file looked for."""
    assistants = [{"name": "a", "client_id": "x", "client_secret": "s", "prompt": "nope"}]
    message = problem(config(assistants=assistants))
    assert message == f"{ROOT / 'prompts' / 'nope.md'}: prompt template 'nope' not found"


def test_an_unknown_variable_names_file_and_line(tmp_path: Path) -> None:
    """A template with an unknown variable is refused, naming the line."""
    (tmp_path / "default.md").write_text("Hi {sender_name}\n{weather}\n", encoding="utf-8")
    message = problem(config(), prompts_dir=tmp_path)
    assert message.startswith(f"{tmp_path / 'default.md'}: line 2: unknown variable 'weather'")


def test_a_missing_prompts_folder_names_the_key(tmp_path: Path) -> None:
    """A prompts folder that does not exist is named with its key."""
    message = problem(config(serve={"prompts_dir": str(tmp_path / "absent")}))
    assert message.startswith("bridge.toml: serve.prompts_dir: prompts folder")


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"llm": {"api_key": ""}}, "llm.api_key"),
        (
            {
                "assistants": [
                    {"name": "a", "client_id": "x", "client_secret": "s", "llm": {"api_key": " "}}
                ]
            },
            "assistants.0.llm.api_key",
        ),
    ],
)
def test_an_empty_model_key_is_refused_naming_its_key(sections: dict[str, Any], key: str) -> None:
    """A model key whose ${NAME} was set to "" is an error at its own key."""
    message = problem(config(**sections))
    assert message.startswith(f"bridge.toml: {key}: is empty")


@pytest.mark.parametrize(
    "host", ["https://api.dingtalk.com", "api.dingtalk.com/", "*.dingtalk.com", "API.dingtalk.com"]
)
def test_a_reply_host_that_can_never_match_is_refused(host: str) -> None:
    """reply_hosts entries are bare lowercase hosts, the form webhook hosts are compared in."""
    message = problem(config(dingtalk={"reply_hosts": [host]}))
    assert message.startswith(f"bridge.toml: dingtalk.reply_hosts: {host!r} is not a bare")


def test_no_reply_host_is_refused() -> None:
    """An empty allow-list would refuse every message that carries a webhook."""
    message = problem(config(dingtalk={"reply_hosts": []}))
    assert message.startswith("bridge.toml: dingtalk.reply_hosts: is empty")


def test_a_model_url_without_scheme_is_refused() -> None:
    """A base URL the openai client could never call is refused at start-up."""
    message = problem(config(llm={"base_url": "api.deepseek.com/v1"}))
    assert message.startswith("bridge.toml: llm.base_url: must be an http(s) URL")


def test_a_state_file_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    """The state file's folder must exist (the file itself is created)."""
    state = tmp_path / "absent" / "state.sqlite3"
    message = problem(config(serve={"state": str(state)}))
    assert message.startswith("bridge.toml: serve.state: the folder")
    check_startup(config(serve={"state": str(tmp_path / "state.sqlite3")}))


def test_summary_names_what_runs_and_no_secret() -> None:
    """One line: assistants, doors, surfaces, model endpoint, state; no key or secret."""
    checked = config(
        llm={"base_url": "https://u:sk-url@api.deepseek.com/v1", "api_key": "sk-key"},
        serve={"push_token": "push-secret", "state": "bridge-state.sqlite3"},
        delivery={"ai_template_id": "t.schema", "prefer": ["ai_reply", "robot_send"]},
        assistants=[{"name": "helpdesk", "client_id": "ding-1", "client_secret": "dt-secret"}],
    )
    line = summary(checked, http_url="http://127.0.0.1:8080")
    assert "\n" not in line
    assert "assistants helpdesk (ding-1)" in line
    assert "doors stream, http http://127.0.0.1:8080, push enabled" in line
    assert "surfaces ai_reply > robot_send" in line
    assert "model gpt-4o-mini at https://api.deepseek.com/v1" in line
    assert "state sqlite bridge-state.sqlite3" in line
    for secret in ("sk-url", "sk-key", "push-secret", "dt-secret"):
        assert secret not in line


def test_summary_lists_per_assistant_values_when_they_differ() -> None:
    """Assistants with different models are each named with theirs."""
    assistants = [
        {"name": "a", "client_id": "x", "client_secret": "s"},
        {"name": "b", "client_id": "y", "client_secret": "s", "llm": {"model": "qwen-max"}},
    ]
    line = summary(config(assistants=assistants, serve={"http": False}))
    assert "model a: gpt-4o-mini at https://api.openai.com/v1, b: qwen-max at" in line
    assert "doors stream;" in line
    assert "state memory" in line
