"""How the sandbox is put together: its emulated world, its Config, and which model it uses.

Pure functions (no I/O, no clocks) that ``runner.running_sandbox`` calls, so tests can
check the wiring without serving anything:

- ``sandbox_world()``: the emulator's default world (assistant app ``dingbridge-dev``,
  alice/bob/carol, ``cid-alice``, ``cid-group``, ``cid-wand-alice``) plus a plain chat
  robot, ``dingbridge-card``, whose replies go out as streaming AI cards. The page offers
  both, so a user can watch the aiInteraction typewriter and the card one side by side,
  and see a card end in its "failed" state (aiInteraction has none).
- ``choose_llm(...)``: the simulated model behind the emulator's ``/v1`` (it sees
  pictures: ``[llm] vision``), unless ``--config FILE`` has an ``[llm]`` section or
  ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` are set, in which case the real model answers
  (seeing pictures only when the file's ``[llm] vision`` says so).
- ``sandbox_config(...)``: the production ``Config`` pointed at the emulator: both API
  bases are its URL, its host:port is the only allowed webhook and media host (the
  pictures users send are downloaded from it), Stream mode on, the HTTP doors off,
  state in memory, and the AI card template ``SANDBOX_TEMPLATE``, which
  the runner creates in the emulator through its control API (the emulator, like
  DingTalk, knows no template nobody created).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from bridge.config import (
    AssistantConfig,
    Config,
    DeliveryConfig,
    DingTalkConfig,
    LLMConfig,
    MediaConfig,
    MemoryConfig,
    PacingConfig,
    ServeConfig,
)
from bridge.emulator.model.script import ModelScript
from bridge.emulator.model.simulator import MODEL_ID
from bridge.emulator.state import DEFAULT_APP, DEFAULT_APP_NAME, DEFAULT_SECRET, Emulator

__all__ = [
    "ASSISTANT",
    "CARD_APP",
    "CARD_ASSISTANT",
    "DEFAULT_PROMPT",
    "MARKDOWN_DEMO",
    "SANDBOX_TEMPLATE",
    "ModelChoice",
    "choose_llm",
    "sandbox_config",
    "sandbox_world",
]

ASSISTANT = "dev"
"""The bridge assistant answering as the emulator's AI assistant app (``dingbridge-dev``)."""

CARD_APP = "dingbridge-card"
"""The chat robot app whose replies stream as AI cards."""

CARD_ASSISTANT = "dev-card"
"""The bridge assistant answering as ``CARD_APP``."""

CARD_APP_NAME = "Card Bot"
"""``CARD_APP``'s display name, which group messages @-mention."""

SANDBOX_TEMPLATE = ("sandbox-markdown.schema", "content")
"""The AI card template (id, streaming variable) the runner creates and the AI surfaces use."""

# The card first; the robot webhook when the card cannot be used (e.g. it is down).
CARD_PREFER: tuple[str, ...] = ("ai_card", "robot_webhook", "robot_send")

DEFAULT_PROMPT = """\
You are {assistant_name}, an assistant inside DingTalk (钉钉), talking with {sender_name}.
Today is {date}.

Answer in the language of the question. Be concise and concrete; use Markdown (lists,
tables, code blocks) when it makes the answer clearer. DingTalk renders Markdown, but not
HTML.
"""
"""The system prompt used when the repository's ``prompts/`` cannot be found."""


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The model the sandbox talks to, and a line saying which for the console."""

    llm: LLMConfig
    simulated: bool
    description: str


MARKDOWN_DEMO = """\
## 部署清单 · Deployment checklist

bridge 把模型的回答**逐步**显示在钉钉里，支持 *Markdown*、`inline code` 和中文。

1. 配置 `config.toml`
2. 设置环境变量：
   - `OPENAI_API_KEY`
   - `DINGTALK_CLIENT_SECRET`
3. 运行 `bridge serve`

| 方式 | 调用次数 | 首字时间 |
|:--|--:|--:|
| 一次性回复 | 1 | 慢 |
| 流式更新 | 5–20 | 快 |

```python
async with Bridge(config, os.environ) as bridge:
    await bridge.serve()
```

> 提示：消息一旦打开，就一定会被关闭。"""
"""The simulated model's answer to ``[[script=markdown]]`` (the page's "markdown" chip)."""


def sandbox_world() -> Emulator:
    """The default emulated world plus the card robot (see the module docstring)."""
    world = Emulator.with_defaults()
    world.apps.register(CARD_APP, DEFAULT_SECRET, "robot", name=CARD_APP_NAME)
    world.model.define("markdown", ModelScript(text=MARKDOWN_DEMO))
    return world


def choose_llm(
    emulator_url: str, env: Mapping[str, str], base: Config | None = None
) -> ModelChoice:
    """The real model when one is configured, else the emulator's simulated one.

    Order: an ``[llm]`` section in the ``--config`` file wins; then ``OPENAI_BASE_URL`` /
    ``OPENAI_API_KEY`` (model from ``OPENAI_MODEL``, key read by the openai client from
    the same environment); else the simulated model.
    """
    if base is not None and "llm" in base.model_fields_set:
        llm = base.assistants[0].llm if base.assistants else base.llm
        return ModelChoice(llm, False, f"{llm.model} at {llm.base_url} (from the config file)")
    if env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_KEY"):
        defaults = LLMConfig()
        llm = LLMConfig(
            base_url=env.get("OPENAI_BASE_URL") or defaults.base_url,
            model=env.get("OPENAI_MODEL") or defaults.model,
        )
        return ModelChoice(llm, False, f"{llm.model} at {llm.base_url} (from the environment)")
    llm = LLMConfig(
        base_url=f"{emulator_url.rstrip('/')}/v1",
        model=MODEL_ID,
        # The simulated model counts characters; any offline encoding will do.
        encoding="o200k_base",
        max_retries=1,
        # It takes pictures and says what it received ("I see an image of N bytes").
        vision=True,
    )
    return ModelChoice(llm, True, f"simulated, at {llm.base_url}")


def sandbox_config(
    emulator_url: str,
    *,
    llm: LLMConfig,
    prompts_dir: Path,
    base: Config | None = None,
    grace_period: float = 3.0,
) -> Config:
    """The production Config, every DingTalk host pointed at the emulator.

    ``base`` (the ``--config`` file, if any) lends its pacing, delivery, memory and
    media settings (media hosts excepted); its DingTalk, serve and assistant credentials
    are ignored on purpose: the sandbox talks to the emulator's apps only.
    """
    parts = urlsplit(emulator_url)
    if not parts.hostname:
        raise ValueError(f"not a URL: {emulator_url!r}")
    netloc = parts.netloc.lower()
    template_id, template_key = SANDBOX_TEMPLATE
    pacing, delivery, memory = PacingConfig(), DeliveryConfig(), MemoryConfig()
    media = MediaConfig()
    if base is not None:
        source = base.assistants[0] if base.assistants else base
        pacing, delivery, memory, media = source.pacing, source.delivery, base.memory, base.media
    # Pictures are downloaded from the emulator's own host, over plain http.
    media = media.model_copy(update={"allowed_hosts": (netloc,), "https_only": False})
    # The file's template belongs to its organisation: the emulator knows the sandbox's.
    delivery = delivery.model_copy(
        update={"ai_template_id": template_id, "ai_template_key": template_key}
    )
    card_delivery = delivery.model_copy(update={"prefer": CARD_PREFER})
    return Config(
        dingtalk=DingTalkConfig(
            api_base=emulator_url,
            oapi_base=emulator_url,
            reply_hosts=(netloc,),
            # Local calls answer in milliseconds; a short deadline keeps faults snappy.
            timeout=5.0,
        ),
        llm=llm,
        pacing=pacing,
        delivery=delivery,
        memory=memory,
        media=media,
        serve=ServeConfig(
            stream=True,
            http=False,
            state=":memory:",
            prompts_dir=str(prompts_dir),
            grace_period=grace_period,
        ),
        assistants=(
            AssistantConfig(
                name=ASSISTANT,
                client_id=DEFAULT_APP,
                client_secret=SecretStr(DEFAULT_SECRET),
                display_names=(DEFAULT_APP_NAME,),
                llm=llm,
                pacing=pacing,
                delivery=delivery,
            ),
            AssistantConfig(
                name=CARD_ASSISTANT,
                client_id=CARD_APP,
                client_secret=SecretStr(DEFAULT_SECRET),
                display_names=(CARD_APP_NAME,),
                llm=llm,
                pacing=pacing,
                delivery=card_delivery,
            ),
        ),
    )
