"""Tests for bridge.config_chat: the [chat] and [notices] sections and their overrides."""

from __future__ import annotations

import pytest

from bridge.config import parse_config
from bridge.errors import ConfigError

ENV = {"SECRET": "s3cret"}
BASE = """
[[assistants]]
name = "a"
client_id = "x"
client_secret = "${SECRET}"
delivery = { ai_template_id = "tpl.schema" }
"""


def test_defaults_stop_words_queue_and_notices() -> None:
    """By default: 停止 and /stop, the queue policy, the button, one notice per cause."""
    chat = parse_config(BASE, ENV).assistant("a").chat
    assert chat.stop_words == ("停止", "/stop")
    assert chat.on_new_message == "queue"
    assert chat.stop_button
    notices = parse_config(BASE, ENV).assistant("a").notices
    assert notices.refused.format(status=429) == "（模型服务拒绝了请求：HTTP 429，请稍后重试）"


def test_an_assistant_overrides_chat_and_notices_key_by_key() -> None:
    """[assistants.chat] and [assistants.notices] merge over the top-level tables."""
    text = (
        '[chat]\nstop_words = ["停"]\n[notices]\nstopped = "（停）"\n'
        + BASE
        + '[assistants.chat]\non_new_message = "interrupt"\n'
        + '[assistants.notices]\ncut = "（截断）"\n'
    )
    assistant = parse_config(text, ENV).assistant("a")
    assert assistant.chat.stop_words == ("停",)
    assert assistant.chat.on_new_message == "interrupt"
    assert (assistant.notices.stopped, assistant.notices.cut) == ("（停）", "（截断）")


def test_stop_words_match_whole_messages_ignoring_case_and_spaces() -> None:
    """ " /STOP " is a stop word; "停止一下" and "" are not."""
    chat = parse_config(BASE, ENV).chat
    assert chat.is_stop_word(" /STOP ")
    assert chat.is_stop_word("停止")
    assert not chat.is_stop_word("停止一下")
    assert not chat.is_stop_word("")


def test_a_refused_notice_with_an_unknown_field_is_refused() -> None:
    """[notices] refused may name {status} only."""
    with pytest.raises(ConfigError, match=r"notices\.refused"):
        parse_config('[notices]\nrefused = "HTTP {code}"\n' + BASE, ENV)


def test_an_unknown_policy_names_the_key() -> None:
    """on_new_message must be queue or interrupt."""
    with pytest.raises(ConfigError, match=r"chat\.on_new_message"):
        parse_config('[chat]\non_new_message = "drop"\n' + BASE, ENV)


def test_the_card_callback_secret_is_masked() -> None:
    """The apiSecret of the card callback registration never prints."""
    config = parse_config('[chat]\ncard_callback_secret = "${SECRET}"\n' + BASE, ENV)
    assert "s3cret" not in repr(config)
    secret = config.assistant("a").chat.card_callback_secret
    assert secret is not None
    assert secret.get_secret_value() == "s3cret"


def test_a_card_callback_url_needs_its_route_key() -> None:
    """card_callback_url alone is refused: there is no key to register it for."""
    url = 'card_callback_url = "https://bridge.example.com/dingtalk/a/card"\n'
    with pytest.raises(ConfigError, match="card_callback_route_key"):
        parse_config("[chat]\n" + url + BASE, ENV)
    chat = parse_config('[chat]\ncard_callback_route_key = "k"\n' + url + BASE, ENV)
    assert chat.assistant("a").chat.card_callback_url == url.split('"')[1]


def test_a_card_callback_url_is_http_or_https() -> None:
    """A URL without a scheme is refused, naming the key."""
    with pytest.raises(ConfigError, match=r"chat\.card_callback_url"):
        parse_config(
            '[chat]\ncard_callback_route_key = "k"\ncard_callback_url = "bridge/card"\n' + BASE,
            ENV,
        )
