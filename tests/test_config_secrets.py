"""Configuration: empty secrets are refused, and the door limits have sane bounds."""

from __future__ import annotations

import pytest

from bridge.config import parse_config
from bridge.errors import ConfigError

ASSISTANT = """
[[assistants]]
name = "a"
client_id = "ding1"
client_secret = "{secret}"
{extra}
delivery = {{ ai_template_id = "tpl.schema" }}
"""


def config_text(secret: str = "s3cret", extra: str = "", serve: str = "") -> str:
    return f"[serve]\n{serve}\n" + ASSISTANT.format(secret=secret, extra=extra)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (config_text(secret=""), "assistants.0.client_secret"),
        (config_text(secret="   "), "assistants.0.client_secret"),
        (config_text(extra='action_token = ""'), "assistants.0.action_token"),
        (config_text(serve='push_token = ""'), "serve.push_token"),
    ],
    ids=["client_secret", "blank_client_secret", "action_token", "push_token"],
)
def test_an_empty_secret_is_refused_with_a_clear_message(text: str, key: str) -> None:
    """An empty client secret or bearer token is a ConfigError naming the key, not a door."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {}, source="bridge.toml")
    assert caught.value.key == key
    assert "is empty" in str(caught.value)


def test_an_environment_variable_set_to_nothing_is_refused() -> None:
    """client_secret = "${SECRET}" with SECRET set to "" is caught the same way."""
    with pytest.raises(ConfigError, match="is empty"):
        parse_config(config_text(secret="${SECRET}"), {"SECRET": ""})


def test_door_limits_have_defaults_and_bounds() -> None:
    """The [serve] limits default to documented values; a tiny frame limit is refused."""
    serve = parse_config(config_text(), {}).serve
    assert (serve.header_timeout, serve.body_timeout) == (10.0, 10.0)
    assert (serve.max_connections, serve.max_requests) == (512, 64)
    assert serve.stream_max_frame_bytes == 1024 * 1024
    assert serve.busy_reply
    with pytest.raises(ConfigError, match="stream_max_frame_bytes"):
        parse_config(config_text(serve="stream_max_frame_bytes = 1000"), {})
