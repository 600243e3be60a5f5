"""Configuration: TOML into frozen models, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.config import Config, load_config, parse_config
from bridge.config_text import config_to_text
from bridge.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "OPENAI_API_KEY": "sk-test-123",
    "DINGTALK_CLIENT_SECRET": "dt-secret-456",
    "BRIDGE_PUSH_TOKEN": "push-789",
}

MINIMAL = """
[[assistants]]
name = "a"
client_id = "ding1"
client_secret = "${SECRET}"
delivery = { ai_template_id = "tpl.schema" }
"""


def test_example_config_loads() -> None:
    """config.example.toml is valid and documents the defaults of every section."""
    config = load_config(ROOT / "config.example.toml", ENV)
    assert config.dingtalk.qps_per_api == 20
    assert config.pacing.min_interval == pytest.approx(0.8)
    helpdesk = config.assistant("helpdesk")
    assert helpdesk.client_secret.get_secret_value() == "dt-secret-456"
    assert helpdesk.pacing.cursor == "▍"


def test_example_config_documents_every_key() -> None:
    """Every key the models accept appears in config.example.toml."""
    from bridge.config import AssistantConfig, Config

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    missing = []
    for model in Config.model_fields.values():
        annotation = model.annotation
        fields = getattr(annotation, "model_fields", {})
        for name, field in fields.items():
            nested = getattr(field.annotation, "model_fields", {})
            missing += [k for k in nested if f"{k} =" not in text and f"# {k} =" not in text]
            if f"{name} =" not in text and f"[dingtalk.{name}]" not in text:
                missing.append(name)
    missing += [k for k in AssistantConfig.model_fields if f"{k} =" not in text]
    missing = [k for k in missing if k not in {"llm", "pacing", "delivery", "chat", "notices"}]
    assert missing == []


def test_secrets_are_masked_everywhere() -> None:
    """Neither repr, str, model_dump nor the printed config shows a secret."""
    config = load_config(ROOT / "config.example.toml", ENV)
    for shown in (repr(config), str(config), str(config.model_dump()), config_to_text(config)):
        assert "dt-secret-456" not in shown
        assert "sk-test-123" not in shown
    assert "**********" in config_to_text(config)


def test_env_reference_resolved_from_given_mapping() -> None:
    """${NAME} is read from the mapping passed in, not from os.environ."""
    config = parse_config(MINIMAL, {"SECRET": "s3"})
    assert config.assistants[0].client_secret.get_secret_value() == "s3"


def test_missing_env_variable_names_the_key() -> None:
    """A ${NAME} that is not set is an error naming the variable, the file and the key."""
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL, {}, source="bridge.toml")
    assert str(info.value) == (
        "bridge.toml: assistants.0.client_secret: environment variable SECRET is not set"
    )
    assert info.value.exit_code == ExitCode.CONFIG


def test_misspelled_key_is_named_with_a_suggestion() -> None:
    """An unknown key is an error naming its path, and the close valid key."""
    with pytest.raises(ConfigError) as info:
        parse_config("[pacing]\nmin_intervall = 1.0\n", {}, source="x.toml")
    message = str(info.value)
    assert message.startswith("x.toml: pacing.min_intervall: unknown key")
    assert "min_interval" in message.split("unknown key", 1)[1]


def test_unknown_section_is_an_error() -> None:
    """An unknown top-level table is rejected, not ignored."""
    with pytest.raises(ConfigError, match=r"pacng: unknown key"):
        parse_config("[pacng]\nmin_interval = 1.0\n", {})


def test_wrong_type_names_key_and_value() -> None:
    """A value of the wrong type names the key, what was expected and what was given."""
    with pytest.raises(ConfigError) as info:
        parse_config('[dingtalk]\ntimeout = "soon"\n', {})
    assert "dingtalk.timeout" in str(info.value)
    assert "'soon'" in str(info.value)


def test_out_of_range_value_is_rejected() -> None:
    """Constraints hold: a negative interval is refused."""
    with pytest.raises(ConfigError, match=r"pacing\.min_interval: input should be greater"):
        parse_config("[pacing]\nmin_interval = -1\n", {})


def test_our_own_checks_read_as_written() -> None:
    """A model's own check is its message, without pydantic's "value error" prefix."""
    text = "[llm]\nmax_output_tokens = 100\ncontext_tokens = 50\n"
    with pytest.raises(ConfigError, match=r"^<config>: llm: max_output_tokens must be smaller"):
        parse_config(text, {})


def test_prefer_names_only_registered_surfaces() -> None:
    """An unknown surface in `prefer` names the key, the value and every known surface."""
    with pytest.raises(ConfigError) as info:
        parse_config('[delivery]\nprefer = ["ai_reply", "fax"]\n', {}, source="x.toml")
    assert str(info.value) == (
        "x.toml: delivery.prefer: unknown surface 'fax' (known: ai_reply, ai_stepwise, "
        "ai_card, ai_webhook, robot_webhook, robot_send)"
    )


def test_prefer_is_a_non_empty_list_without_repeats() -> None:
    """`prefer` must name a surface, and each only once."""
    with pytest.raises(ConfigError, match=r"delivery\.prefer: must name at least one"):
        parse_config("[delivery]\nprefer = []\n", {})
    with pytest.raises(ConfigError, match=r"delivery\.prefer: names the surface 'ai_card' twice"):
        parse_config('[delivery]\nprefer = ["ai_card", "ai_reply", "ai_card"]\n', {})


def test_secret_value_never_in_error_message() -> None:
    """A bad secret value is not echoed back in the error."""
    text = '[[assistants]]\nname = "a"\nclient_id = "c"\nclient_secret = ["hunter2"]\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    assert "hunter2" not in str(info.value)
    assert "assistants.0.client_secret" in str(info.value)


def test_invalid_toml_names_the_file() -> None:
    """A TOML syntax error names the file."""
    with pytest.raises(ConfigError, match=r"^f\.toml: not valid TOML"):
        parse_config("[pacing\n", {}, source="f.toml")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing file is a ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.toml", {})


def test_assistant_overrides_merge_over_top_level() -> None:
    """An assistant's [pacing] keys override the top level; the rest is inherited."""
    text = """
[pacing]
min_interval = 1.5
min_growth = 20
[delivery]
ai_template_id = "tpl.schema"
[[assistants]]
name = "a"
client_id = "c"
client_secret = "s"
pacing = { min_growth = 4 }
[[assistants]]
name = "b"
client_id = "d"
client_secret = "t"
"""
    config = parse_config(text, {})
    a, b = config.assistants
    assert (a.pacing.min_interval, a.pacing.min_growth) == (1.5, 4)
    assert (b.pacing.min_interval, b.pacing.min_growth) == (1.5, 20)


def test_assistant_names_must_be_unique() -> None:
    """Two assistants with one name are refused."""
    text = MINIMAL + MINIMAL
    with pytest.raises(ConfigError, match="used twice"):
        parse_config(text, {"SECRET": "s"})


def test_models_are_frozen() -> None:
    """Config values cannot be changed after loading."""
    config = parse_config(MINIMAL, {"SECRET": "s"})
    with pytest.raises(ValidationError):
        config.pacing.min_interval = 3  # type: ignore[misc]


def test_validating_a_dict_merges_like_a_file() -> None:
    """Config.model_validate(dict) gives assistants the top-level sections, as files do."""
    config = Config.model_validate(
        {
            "llm": {"base_url": "http://127.0.0.1:9/v1"},
            "delivery": {"ai_template_id": "tpl.schema"},
            "assistants": [{"name": "a", "client_id": "c", "client_secret": "s"}],
        }
    )
    assert config.assistants[0].llm.base_url == "http://127.0.0.1:9/v1"


def test_assistants_of_the_wrong_shape_name_the_key() -> None:
    """`assistants` that is not an array of tables is an error naming it."""
    with pytest.raises(ConfigError, match=r"^x\.toml: assistants"):
        parse_config('assistants = "many"\n', {}, source="x.toml")


ASSISTANT = '[[assistants]]\nname = "a"\nclient_id = "c"\nclient_secret = "s"\n'


def test_ai_template_is_required_while_an_ai_surface_is_preferred() -> None:
    """No default template exists on DingTalk: ai_reply/ai_stepwise need ai_template_id."""
    with pytest.raises(ConfigError) as caught:
        parse_config(ASSISTANT, {}, source="bridge.toml")
    message = str(caught.value)
    assert message.startswith("bridge.toml: assistants.0.delivery: ai_template_id is required")
    assert "ai_reply and ai_stepwise" in message
    assert "docs/dingtalk-setup.md" in message
    only_stepwise = '[delivery]\nprefer = ["ai_stepwise", "robot_send"]\n' + ASSISTANT
    with pytest.raises(ConfigError, match="prefer lists ai_stepwise, which"):
        parse_config(only_stepwise, {})


def test_ai_template_is_not_needed_without_an_ai_surface() -> None:
    """A robot that prefers cards and webhooks needs no AI template."""
    text = '[delivery]\nprefer = ["ai_card", "robot_webhook"]\n' + ASSISTANT
    assert parse_config(text, {}).assistants[0].delivery.ai_template_id is None


def test_ai_template_may_be_set_per_assistant() -> None:
    """The top level may omit it when each assistant that needs it sets its own."""
    text = ASSISTANT + '[assistants.delivery]\nai_template_id = "mine.schema"\n'
    assert parse_config(text, {}).assistants[0].delivery.ai_template_id == "mine.schema"


def test_display_names_are_read_per_assistant() -> None:
    """display_names lists the names users @-mention the assistant by."""
    text = MINIMAL + 'display_names = ["Bridge Dev", "小助手"]\n'
    assistant = parse_config(text, {"SECRET": "s"}).assistants[0]
    assert assistant.display_names == ("Bridge Dev", "小助手")
