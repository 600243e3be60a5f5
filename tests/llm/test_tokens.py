"""Tests of bridge.llm.tokens: offline encodings, model mapping, counting, trimming."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import tiktoken

from bridge.config import LLMConfig, parse_config
from bridge.errors import ConfigError
from bridge.llm.messages import ChatMessage
from bridge.llm.tokens import (
    Encodings,
    count_messages,
    count_text,
    encoding_name,
    halve_history,
    history_budget,
    load_encodings,
    token_factor,
    trim_history,
)


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_hello_world_is_two_tokens(encodings: Encodings, name: str) -> None:
    """ "hello world" is two tokens in both encodings."""
    assert count_text(encodings.get(name), "hello world") == 2


def test_known_token_ids(encodings: Encodings) -> None:
    """The loaded tables give OpenAI's token ids."""
    assert encodings.get("cl100k_base").encode("hello world") == [15339, 1917]
    assert encodings.get("o200k_base").encode("hello world") == [24912, 2375]


def test_special_token_text_counts_as_plain_text(cl100k: tiktoken.Encoding) -> None:
    """User text that looks like a special token is counted, not refused."""
    assert count_text(cl100k, "<|endoftext|>") > 1


def test_sha256_mismatch_is_refused(tmp_path: Path) -> None:
    """A table whose content differs from the pinned hash does not load."""
    (tmp_path / "cl100k_base.tiktoken.gz").write_bytes(gzip.compress(b"IQ== 0\n"))
    with pytest.raises(ConfigError, match="sha256"):
        load_encodings(["cl100k_base"], data_dir=tmp_path)


def test_missing_table_is_a_config_error(tmp_path: Path) -> None:
    """A missing table file is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="cl100k_base"):
        load_encodings(["cl100k_base"], data_dir=tmp_path)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-5-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("deepseek-chat", "cl100k_base"),
        ("Qwen/Qwen2.5-7B-Instruct", "cl100k_base"),
    ],
)
def test_builtin_model_mapping(model: str, expected: str) -> None:
    """Known model families map to their encoding; others fall back to cl100k."""
    assert encoding_name(model, LLMConfig()) == expected


def test_configured_prefix_beats_builtin() -> None:
    """A configured prefix wins over the built-in table, longest prefix first."""
    config = LLMConfig(encodings={"gpt-4": "o200k_base", "qwen": "o200k_base"})
    assert encoding_name("gpt-4-turbo", config) == "o200k_base"
    assert encoding_name("qwen-max", config) == "o200k_base"
    assert encoding_name("gpt-3.5-turbo", config) == "cl100k_base"


def test_fallback_and_override() -> None:
    """fallback_encoding covers unknown models; encoding forces one for every model."""
    fallback = LLMConfig(fallback_encoding="o200k_base")
    assert encoding_name("deepseek-chat", fallback) == "o200k_base"
    assert encoding_name("gpt-4o", LLMConfig(encoding="cl100k_base")) == "cl100k_base"


def test_for_model_returns_the_loaded_encoding(encodings: Encodings) -> None:
    """for_model hands out the loaded tiktoken.Encoding for the model."""
    assert encodings.for_model("gpt-4o", LLMConfig()).name == "o200k_base"


def test_unloaded_encoding_is_a_config_error() -> None:
    """Asking for an encoding that was not loaded is a ConfigError."""
    with pytest.raises(ConfigError):
        Encodings({}).for_model("gpt-4o", LLMConfig())


def test_count_messages_adds_the_chat_overhead(cl100k: tiktoken.Encoding) -> None:
    """Each message costs 3 + role + content tokens, and the reply 3 more."""
    messages = [ChatMessage.system("hello world"), ChatMessage.user("hello world")]
    assert count_messages(cl100k, messages) == 3 + (3 + 1 + 2) + (3 + 1 + 2)


def test_history_budget_leaves_room_for_the_answer() -> None:
    """The budget is the context window minus the answer's tokens."""
    assert history_budget(LLMConfig(context_tokens=8000, max_output_tokens=1000)) == 7000


def history(turns: int) -> list[ChatMessage]:
    """``turns`` question/answer pairs, numbered from the oldest."""
    messages = []
    for n in range(turns):
        messages += [ChatMessage.user(f"question {n}"), ChatMessage.assistant(f"answer {n}")]
    return messages


def test_trim_keeps_everything_that_fits(cl100k: tiktoken.Encoding) -> None:
    """Within the budget, nothing is dropped and the order is kept."""
    system, user = ChatMessage.system("be brief"), ChatMessage.user("now")
    result = trim_history(cl100k, system, history(3), user, budget=10_000)
    assert result == [system, *history(3), user]


def test_trim_drops_oldest_turns_first(cl100k: tiktoken.Encoding) -> None:
    """Over budget, whole turns go from the oldest; system and user stay."""
    system, user = ChatMessage.system("be brief"), ChatMessage.user("now")
    full = count_messages(cl100k, [system, *history(4), user])
    turn = count_messages(cl100k, history(4)[:2]) - 3  # one pair, without the reply priming
    result = trim_history(cl100k, system, history(4), user, budget=full - 1)
    assert result == [system, *history(4)[2:], user]
    result = trim_history(cl100k, system, history(4), user, budget=full - turn - 1)
    assert result == [system, *history(4)[4:], user]


def test_trim_never_starts_with_an_orphan_answer(cl100k: tiktoken.Encoding) -> None:
    """A leading assistant message goes with the turn it belongs to."""
    past = [ChatMessage.assistant("welcome"), *history(1)]
    user = ChatMessage.user("now")
    full = count_messages(cl100k, [*past, user])
    assert trim_history(cl100k, None, past, user, budget=full - 1) == [*history(1), user]


def test_trim_keeps_system_and_user_over_budget(cl100k: tiktoken.Encoding) -> None:
    """Even when system and user alone exceed the budget, both are kept."""
    system, user = ChatMessage.system("be brief " * 50), ChatMessage.user("now " * 50)
    assert trim_history(cl100k, system, history(2), user, budget=5) == [system, user]


def test_factor_shrinks_what_fits(cl100k: tiktoken.Encoding) -> None:
    """With factor 2 a budget holds half of what tiktoken counts: turns fitting at 1 go."""
    system, user = ChatMessage.system("be brief"), ChatMessage.user("now")
    full = count_messages(cl100k, [system, *history(4), user])
    assert trim_history(cl100k, system, history(4), user, full) == [system, *history(4), user]
    halved = trim_history(cl100k, system, history(4), user, full, factor=2.0)
    kept = len(halved) - 2
    assert 0 < kept < len(history(4))
    assert halved == [system, *history(4)[-kept:], user]
    assert count_messages(cl100k, halved) * 2 <= full
    one_more = [system, *history(4)[-kept - 2 :], user]
    assert count_messages(cl100k, one_more) * 2 > full
    assert trim_history(cl100k, system, history(4), user, 2 * full, factor=2.0) == [
        system,
        *history(4),
        user,
    ]


def test_factor_below_one_lets_more_fit(cl100k: tiktoken.Encoding) -> None:
    """A factor under 1 (a model that counts fewer tokens) keeps what would not fit at 1."""
    system, user = ChatMessage.system("be brief"), ChatMessage.user("now")
    full = count_messages(cl100k, [system, *history(4), user])
    kept = trim_history(cl100k, system, history(4), user, full // 2, factor=0.5)
    assert kept == [system, *history(4), user]


def test_default_factors_per_encoding() -> None:
    """By default cl100k (the stand-in) counts double, o200k (OpenAI's own) as is."""
    config = LLMConfig()
    assert token_factor("deepseek-chat", config) == 2.0
    assert token_factor("gpt-4o-mini", config) == 1.0
    assert token_factor("gpt-4", config) == 2.0


def test_configured_factor_is_merged_over_the_defaults() -> None:
    """Setting one encoding's factor keeps the other's default."""
    config = LLMConfig(token_factors={"cl100k_base": 1.3})  # type: ignore[dict-item]
    assert config.token_factors == {"cl100k_base": 1.3, "o200k_base": 1.0}
    assert token_factor("qwen-max", config) == 1.3
    forced = LLMConfig(encoding="o200k_base", token_factors={"o200k_base": 2.5})  # type: ignore[dict-item]
    assert token_factor("qwen-max", forced) == 2.5


@pytest.mark.parametrize("factors", [{"cl100k_base": 0.2}, {"cl100k_base": 5}, {"p50k": 1.0}])
def test_factor_out_of_range_or_unknown_encoding_is_refused(factors: dict[str, float]) -> None:
    """A factor outside 0.5–4 or for an unknown encoding is a config error naming the key."""
    text = f"""
[llm]
token_factors = {{ {", ".join(f"{k} = {v}" for k, v in factors.items())} }}

[[assistants]]
name = "a"
client_id = "c"
client_secret = "s"
delivery = {{ ai_template_id = "tpl.schema" }}
"""
    with pytest.raises(ConfigError, match=r"llm\.token_factors"):
        parse_config(text, {})


def test_halve_keeps_the_newest_turns_worth_half(cl100k: tiktoken.Encoding) -> None:
    """Equal turns: the newer half stays, system and user too."""
    system, user = ChatMessage.system("be brief"), ChatMessage.user("now")
    assert halve_history(cl100k, [system, *history(4), user]) == [system, *history(4)[4:], user]
    assert halve_history(cl100k, [*history(4), user]) == [*history(4)[4:], user]


def test_halve_drops_a_newest_turn_worth_more_than_half(cl100k: tiktoken.Encoding) -> None:
    """A long newest turn is over half by itself: the history goes entirely."""
    long_turn = [ChatMessage.user("tell me " * 200), ChatMessage.assistant("well " * 200)]
    prompt = [*history(2), *long_turn, ChatMessage.user("now")]
    assert halve_history(cl100k, prompt) == [ChatMessage.user("now")]


def test_halve_without_history_is_none(cl100k: tiktoken.Encoding) -> None:
    """Nothing to drop: None, so the same prompt is not asked twice."""
    system, user = ChatMessage.system("be brief"), ChatMessage.user("now")
    assert halve_history(cl100k, [system, user]) is None
    assert halve_history(cl100k, [user]) is None
