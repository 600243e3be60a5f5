"""Tests of bridge.config_env: ${NAME} references, and every missing one named at once."""

from __future__ import annotations

import pytest

from bridge.config import parse_config
from bridge.config_env import resolve_env
from bridge.errors import ConfigError, ExitCode

TWO_SECRETS = """
[llm]
api_key = "${MODEL_KEY}"

[serve]
push_token = "${PUSH}"

[[assistants]]
name = "a"
client_id = "x"
client_secret = "${SECRET}"

[[assistants]]
name = "b"
client_id = "y"
client_secret = "${SECRET}"
"""


def test_references_resolved_inside_tables_lists_and_strings() -> None:
    """Every ${NAME} is replaced, also inside lists and around other text."""
    raw = {"a": "${X}", "b": ["pre-${X}-${Y}"], "c": {"d": 1, "e": "${Y}"}}
    assert resolve_env(raw, {"X": "1", "Y": "2"}, "f.toml") == {
        "a": "1",
        "b": ["pre-1-2"],
        "c": {"d": 1, "e": "2"},
    }


def test_every_missing_variable_in_one_error_with_its_keys() -> None:
    """All unset variables are named at once, each with every key that uses it."""
    with pytest.raises(ConfigError) as info:
        parse_config(TWO_SECRETS, {"PUSH": "p"}, source="bridge.toml")
    message = str(info.value)
    assert message.startswith("bridge.toml: environment variables not set: ")
    assert "MODEL_KEY (llm.api_key)" in message
    assert "SECRET (assistants.0.client_secret, assistants.1.client_secret)" in message
    assert "PUSH" not in message
    assert info.value.exit_code == ExitCode.CONFIG


def test_one_missing_variable_names_its_key() -> None:
    """A single unset variable used once keeps the short form: file, key, variable."""
    with pytest.raises(ConfigError) as info:
        resolve_env({"serve": {"push_token": "${PUSH}"}}, {}, "bridge.toml")
    assert str(info.value) == (
        "bridge.toml: serve.push_token: environment variable PUSH is not set"
    )


def test_an_empty_variable_is_set() -> None:
    """A variable set to "" resolves (the start-up checks then refuse an empty secret)."""
    assert resolve_env({"k": "${E}"}, {"E": ""}, "f.toml") == {"k": ""}
