"""The printed configuration: TOML that parses back to what was loaded."""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config, parse_config
from bridge.config_text import config_to_text

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "OPENAI_API_KEY": "sk-test-123",
    "DINGTALK_CLIENT_SECRET": "dt-secret-456",
    "BRIDGE_PUSH_TOKEN": "push-789",
}


def test_printed_config_is_valid_toml_and_round_trips() -> None:
    """`config check` output parses back to the same configuration."""
    config = load_config(ROOT / "config.example.toml", ENV)
    text = config_to_text(config)
    again = parse_config(text.replace('"**********"', '"masked"'), {})
    assert again.pacing == config.pacing
    assert again.dingtalk == config.dingtalk
    assert again.assistants[0].pacing == config.assistants[0].pacing


def test_unset_keys_are_commented_out() -> None:
    """TOML has no null: an optional key left unset prints as a comment."""
    text = '[[assistants]]\nname = "a"\nclient_id = "c"\nclient_secret = "s"\n'
    config = parse_config(text + 'delivery = { prefer = ["robot_send"] }\n', {})
    assert "# robot_code = (unset)" in config_to_text(config).splitlines()
