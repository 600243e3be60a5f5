"""The sandbox's wiring: which model it uses and the Config it gives the bridge."""

from __future__ import annotations

from pathlib import Path

from bridge.config import parse_config
from bridge.emulator.model.simulator import MODEL_ID
from bridge.emulator.state import DEFAULT_APP
from bridge.sandbox.runner import find_prompts_dir
from bridge.sandbox.wiring import (
    ASSISTANT,
    CARD_APP,
    CARD_ASSISTANT,
    SANDBOX_TEMPLATE,
    choose_llm,
    sandbox_config,
    sandbox_world,
)

URL = "http://127.0.0.1:8765"

BASE_WITH_LLM = """
[llm]
base_url = "https://api.deepseek.com/v1"
model = "deepseek-chat"
api_key = "${DEEPSEEK_KEY}"

[pacing]
min_interval = 0.5

[delivery]
ai_template_id = "their-org.schema"

[[assistants]]
name = "prod"
client_id = "ding-prod"
client_secret = "prod-secret"
"""


def test_simulated_model_by_default() -> None:
    """Without configuration the simulated model behind the emulator's /v1 answers."""
    choice = choose_llm(URL, {})
    assert choice.simulated
    assert choice.llm.base_url == f"{URL}/v1"
    assert choice.llm.model == MODEL_ID


def test_environment_selects_a_real_model() -> None:
    """OPENAI_BASE_URL / OPENAI_MODEL switch to a real endpoint; the key stays in the env."""
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "OPENAI_MODEL": "qwen2.5"}
    choice = choose_llm(URL, env)
    assert not choice.simulated
    assert (choice.llm.base_url, choice.llm.model) == ("http://127.0.0.1:11434/v1", "qwen2.5")
    assert choice.llm.api_key is None


def test_api_key_alone_selects_openai() -> None:
    """OPENAI_API_KEY alone means OpenAI's own endpoint."""
    choice = choose_llm(URL, {"OPENAI_API_KEY": "sk-test"})
    assert not choice.simulated
    assert choice.llm.base_url == "https://api.openai.com/v1"


def test_config_file_llm_section_wins_over_environment() -> None:
    """An [llm] section in --config is used, even when OPENAI_* variables are set."""
    base = parse_config(BASE_WITH_LLM, {"DEEPSEEK_KEY": "sk-ds"})
    choice = choose_llm(URL, {"OPENAI_API_KEY": "sk-openai"}, base)
    assert not choice.simulated
    assert choice.llm.model == "deepseek-chat"
    assert choice.llm.api_key is not None
    assert choice.llm.api_key.get_secret_value() == "sk-ds"
    assert "sk-ds" not in choice.description


def test_config_file_without_llm_keeps_the_simulated_model() -> None:
    """A --config without [llm] only lends pacing and delivery; the simulator answers."""
    base = parse_config("[pacing]\nmin_interval = 0.4\n", {})
    assert choose_llm(URL, {}, base).simulated


def test_config_points_every_host_at_the_emulator() -> None:
    """Both API bases are the emulator; its host:port is the only allowed webhook host."""
    llm = choose_llm(URL, {}).llm
    config = sandbox_config(URL, llm=llm, prompts_dir=Path("prompts"))
    assert config.dingtalk.api_base == URL
    assert config.dingtalk.oapi_base == URL
    assert config.dingtalk.reply_hosts == ("127.0.0.1:8765",)
    assert (config.serve.stream, config.serve.http, config.serve.state) == (True, False, ":memory:")
    assert [a.name for a in config.assistants] == [ASSISTANT, CARD_ASSISTANT]
    assert [a.client_id for a in config.assistants] == [DEFAULT_APP, CARD_APP]
    assert config.assistants[1].delivery.prefer[0] == "ai_card"
    assert all(a.llm == llm for a in config.assistants)


def test_config_keeps_the_files_pacing_but_not_its_credentials() -> None:
    """--config lends pacing; its DingTalk apps are ignored (the emulator's are used)."""
    base = parse_config(BASE_WITH_LLM, {"DEEPSEEK_KEY": "sk-ds"})
    llm = choose_llm(URL, {}, base).llm
    config = sandbox_config(URL, llm=llm, prompts_dir=Path("prompts"), base=base)
    assert config.assistants[0].pacing.min_interval == 0.5
    assert "ding-prod" not in [a.client_id for a in config.assistants]
    # The file's template is its organisation's: the emulator knows the sandbox's own.
    delivery = config.assistants[0].delivery
    assert (delivery.ai_template_id, delivery.ai_template_key) == SANDBOX_TEMPLATE


def test_pictures_are_seen_and_fetched_from_the_emulator_only() -> None:
    """The simulated model sees; media come from the emulator's host; the note is kept."""
    base = parse_config('[media]\npicture_note = "看不到"\nmax_bytes = 2048\n', {})
    config = sandbox_config(
        URL, llm=choose_llm(URL, {}).llm, prompts_dir=Path("prompts"), base=base
    )
    assert all(a.llm.vision for a in config.assistants)
    assert config.media.allowed_hosts == ("127.0.0.1:8765",)
    assert (config.media.picture_note, config.media.max_bytes) == ("看不到", 2048)
    assert not choose_llm(URL, {"OPENAI_API_KEY": "sk"}).llm.vision


def test_config_names_the_apps_as_users_mention_them() -> None:
    """Each assistant knows its app's display name, so "@Bridge Dev" leaves the text."""
    config = sandbox_config(URL, llm=choose_llm(URL, {}).llm, prompts_dir=Path("prompts"))
    names = {a.name: a.display_names for a in config.assistants}
    apps = {a.name: (a.client_id,) for a in config.assistants}
    world = {a.client_id: a.name for a in sandbox_world().world().apps}
    assert names == {n: (world[client_id],) for n, (client_id,) in apps.items()}


def test_world_has_the_default_conversations_and_the_card_robot() -> None:
    """The sandbox world is the default one plus the card robot and the markdown script."""
    world = sandbox_world()
    assert [c.id for c in world.world().conversations] == [
        "cid-alice",
        "cid-group",
        "cid-wand-alice",
    ]
    assert {a.client_id: a.kind for a in world.world().apps} == {
        DEFAULT_APP: "assistant",
        CARD_APP: "robot",
    }
    assert "markdown" in world.model.state().library


def test_repository_prompts_are_found() -> None:
    """The repository's prompts/ is found next to the package, whatever the cwd."""
    found = find_prompts_dir(Path("/"))
    assert found is not None
    assert (found / "default.md").is_file()
