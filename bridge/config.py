"""Configuration: one TOML file validated into frozen models.

``load_config(path, env)`` reads the file with ``tomllib``, substitutes ``${NAME}``
references from ``env`` (a mapping, so tests pass a dict; ``bridge.config_env``), and
validates the result. Every problem becomes one ``ConfigError`` that names the file and
the dotted key path: unknown keys, wrong types, out-of-range values, missing environment
variables (all of them in one message).

Secrets (``client_secret``, ``api_key``…) are ``SecretStr``: they print as ``**********``
in every repr, log line and ``bridge config check`` output (printed by
``bridge.config_text``).

``[delivery] prefer`` names surfaces from ``bridge.delivery.registry``, looked up when a
config is validated, not when this module is imported (the delivery modules import this
one).

Each ``[[assistants]]`` entry may override ``llm``, ``pacing``, ``delivery``, ``chat`` and
``notices`` (``bridge.config_chat``); the override is merged key by key over the
top-level section, and every assistant ends up with complete, resolved settings of its own.

Sections that stand alone live next to this module (``config_llm``, ``config_chat``,
``config_media``), and so does the wording of validation errors (``config_errors``);
every name is still imported from here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.config_chat import ChatConfig, NoticesConfig
from bridge.config_env import resolve_env
from bridge.config_errors import config_error
from bridge.config_llm import DEFAULT_TOKEN_FACTORS, LLMConfig
from bridge.config_media import MediaConfig
from bridge.core.options import ReasoningMode
from bridge.errors import ConfigError

__all__ = [
    "AI_TEMPLATE_SURFACES",
    "DEFAULT_TOKEN_FACTORS",
    "AssistantConfig",
    "ChatConfig",
    "Config",
    "DeliveryConfig",
    "DingTalkConfig",
    "LLMConfig",
    "MediaConfig",
    "MemoryConfig",
    "NoticesConfig",
    "PacingConfig",
    "RetryConfig",
    "ServeConfig",
    "load_config",
    "parse_config",
]

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class RetryConfig(_Model):
    """How DingTalk calls are retried (only idempotent ones after 5xx or a lost connection)."""

    attempts: Annotated[int, Field(ge=1, le=10)] = 4
    backoff_initial: PositiveFloat = 0.2
    backoff_max: PositiveFloat = 5.0
    rate_limited_wait: PositiveFloat = 1.0


class DingTalkConfig(_Model):
    """Where DingTalk is, and how hard bridge may call it."""

    api_base: str = "https://api.dingtalk.com"
    oapi_base: str = "https://oapi.dingtalk.com"
    timeout: PositiveFloat = 10.0
    qps_per_api: PositiveFloat = 20.0
    token_refresh_margin: NonNegativeFloat = 300.0
    reply_hosts: tuple[str, ...] = ("api.dingtalk.com", "oapi.dingtalk.com")
    retry: RetryConfig = RetryConfig()

    @model_validator(mode="after")
    def _bases_are_urls(self) -> DingTalkConfig:
        for name in ("api_base", "oapi_base"):
            value = getattr(self, name)
            if not re.match(r"^https?://[^/\s]+", value):
                raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
        return self


class PacingConfig(_Model):
    """How a token stream becomes DingTalk updates (see README, "Pacing")."""

    oneshot_window: NonNegativeFloat = 1.0
    oneshot_max_chars: PositiveInt = 300
    oneshot_pressure: PositiveFloat = 10.0
    min_interval: PositiveFloat = 0.8
    min_growth: Annotated[int, Field(ge=1)] = 8
    max_idle: PositiveFloat = 2.5
    max_updates_per_reply: PositiveInt = 200
    message_limit_chars: Annotated[int, Field(ge=200)] = 3000
    cursor: str = ""
    reasoning: ReasoningMode = "quoted"
    failure_notice: str = "（回答中断，请稍后重试）"
    placeholder: Annotated[str, Field(max_length=200)] = "思考中…"  # "" disables
    close_timeout: PositiveFloat = 15.0


def _registered_surfaces() -> tuple[str, ...]:
    from bridge.delivery import registry  # lazy: bridge.delivery imports this module

    return registry.names()


class DeliveryConfig(_Model):
    """Which DingTalk surfaces may show a reply, in order of preference."""

    # By default every registered surface, in registration order.
    prefer: tuple[str, ...] = Field(default_factory=_registered_surfaces)
    # Your organisation's AI card template: no default exists on DingTalk, so it is
    # required while ``prefer`` lists a surface of AI_TEMPLATE_SURFACES (checked on
    # each assistant, whose delivery is the merged one).
    ai_template_id: Annotated[str, Field(min_length=1)] | None = None
    ai_template_key: str = "content"
    card_template_id: str = "382e4302-551d-4880-bf29-a30acfab2e71.schema"
    card_template_key: str = "msgContent"
    down_for: PositiveFloat = 300.0
    # Seconds after a reply starts until which its calls wait out DingTalk's rate limits.
    deadline: PositiveFloat = 300.0

    @field_validator("prefer")
    @classmethod
    def _prefer_names_registered_surfaces(cls, prefer: tuple[str, ...]) -> tuple[str, ...]:
        from bridge.delivery import registry  # lazy: bridge.delivery imports this module

        if not prefer:
            raise ValueError("must name at least one surface")
        for name in prefer:
            if name not in registry.names():
                raise ValueError(registry.unknown_surface(name))
            if prefer.count(name) > 1:
                raise ValueError(f"names the surface {name!r} twice")
        return prefer


AI_TEMPLATE_SURFACES = ("ai_reply", "ai_stepwise")
"""Surfaces that show the answer in ``ai_template_id`` (aiInteraction's ``ai_card``)."""


def _require_ai_template(delivery: DeliveryConfig) -> DeliveryConfig:
    """Refuse a delivery whose ``prefer`` needs an AI card template it does not name."""
    needing = [name for name in delivery.prefer if name in AI_TEMPLATE_SURFACES]
    if needing and delivery.ai_template_id is None:
        raise ValueError(
            f"ai_template_id is required: prefer lists {' and '.join(needing)}, which show "
            "the answer in an AI card template of your organisation. Create one "
            "(docs/dingtalk-setup.md, section 6) and set [delivery] ai_template_id, or "
            "leave them out of prefer"
        )
    return delivery


def _not_empty(secret: SecretStr | None) -> SecretStr | None:
    """Refuse a secret that is empty (often an environment variable set to nothing)."""
    if secret is not None and not secret.get_secret_value().strip():
        raise ValueError(
            "is empty: an empty secret would let anyone in (or never match); set it, or "
            "the environment variable it names, to the real value"
        )
    return secret


class ServeConfig(_Model):
    """``bridge serve``: which doors are open and how the process behaves."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    stream: bool = True
    http: bool = True
    push_token: SecretStr | None = None
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    max_concurrent_replies: PositiveInt = 64
    grace_period: NonNegativeFloat = 20.0
    state: str = "bridge-state.sqlite3"
    prompts_dir: str = "prompts"
    # Limits of the doors (README, "Limits"): no client, slow or hostile, takes the service.
    header_timeout: PositiveFloat = 10.0
    body_timeout: PositiveFloat = 10.0
    max_connections: PositiveInt = 512
    max_requests: PositiveInt = 64
    stream_max_frame_bytes: Annotated[int, Field(ge=64 * 1024, le=16 * 1024 * 1024)] = 1024 * 1024
    busy_reply: Annotated[str, Field(min_length=1)] = "（当前提问较多，请稍后再试）"
    # The Turn journal (README, "State"): bounds, and what happens after a crash.
    max_queued_per_conversation: PositiveInt = 20
    max_queued: PositiveInt = 2000
    busy_retry_after: PositiveFloat = 10.0
    replay_max_age: PositiveFloat = 3600.0
    lost_notice: Annotated[str, Field(min_length=1)] = (
        "（抱歉，服务重启，这条消息的回答已丢失，请重新提问）"
    )
    instance_lease: Annotated[float, Field(ge=1.0)] = 30.0
    # Several instances (README, "Several instances"): Redis key prefix, takeover check.
    state_prefix: Annotated[str, Field(min_length=1, max_length=64)] = "bridge:"
    takeover_interval: Annotated[float, Field(ge=0.1)] = 5.0
    log_format: Literal["text", "json"] = "text"

    @field_validator("push_token")
    @classmethod
    def _push_token_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        return _not_empty(value)


class MemoryConfig(_Model):
    """What a conversation remembers between turns."""

    turns: Annotated[int, Field(ge=0)] = 10
    ttl: PositiveFloat = 6 * 3600.0
    per_sender_in_groups: bool = True
    dedup_ttl: PositiveFloat = 3600.0


class AssistantConfig(_Model):
    """One DingTalk AI assistant or robot, with its fully resolved settings."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr
    robot_code: str | None = None
    action_token: SecretStr | None = None
    prompt: str = "default"
    # The name(s) DingTalk users see and @-mention the assistant by ("Bridge Dev"):
    # such a mention is removed from the text the model gets (bridge.inbound.mentions).
    display_names: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    llm: LLMConfig = LLMConfig()
    pacing: PacingConfig = PacingConfig()
    # A factory, not an instance: the default ``prefer`` reads the surface registry,
    # which cannot be imported while this module is.
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    chat: ChatConfig = ChatConfig()
    notices: NoticesConfig = NoticesConfig()

    @field_validator("delivery")
    @classmethod
    def _delivery_names_its_ai_template(cls, delivery: DeliveryConfig) -> DeliveryConfig:
        return _require_ai_template(delivery)

    @field_validator("client_secret", "action_token")
    @classmethod
    def _secrets_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        return _not_empty(value)

    @property
    def robot(self) -> str:
        """The robot code; DingTalk uses the app's client id when none is set."""
        return self.robot_code or self.client_id


class Config(_Model):
    """The whole configuration file."""

    dingtalk: DingTalkConfig = DingTalkConfig()
    llm: LLMConfig = LLMConfig()
    pacing: PacingConfig = PacingConfig()
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    serve: ServeConfig = ServeConfig()
    memory: MemoryConfig = MemoryConfig()
    media: MediaConfig = MediaConfig()
    chat: ChatConfig = ChatConfig()
    notices: NoticesConfig = NoticesConfig()
    assistants: tuple[AssistantConfig, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _inherit_sections(cls, data: Any) -> Any:
        # Merging here (not only in parse_config) means Config.model_validate(dict) gives
        # the same assistants as a file would.
        return _merge_overrides(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _assistant_names_unique(self) -> Config:
        names = [a.name for a in self.assistants]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"assistant name {name!r} is used twice")
        return self

    def assistant(self, name: str) -> AssistantConfig:
        for assistant in self.assistants:
            if assistant.name == name:
                return assistant
        raise ConfigError(f"no assistant named {name!r}", key="assistants")


_OVERRIDABLE = ("llm", "pacing", "delivery", "chat", "notices")


def load_config(path: str | Path, env: Mapping[str, str]) -> Config:
    """Read, resolve and validate the TOML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", file=str(path)) from exc
    return parse_config(text, env, source=str(path))


def parse_config(text: str, env: Mapping[str, str], *, source: str = "<config>") -> Config:
    """Resolve and validate TOML text; ``source`` names it in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=source) from exc
    resolved = resolve_env(raw, env, source)
    try:
        return Config.model_validate(resolved)
    except ValidationError as exc:
        raise config_error(exc, source, _merge_overrides(resolved), Config) from None


def _merge_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """Give each assistant the top-level llm/pacing/delivery, overridden by its own keys.

    Anything malformed is passed through untouched: validation then names the key.
    """
    assistants = raw.get("assistants")
    if not isinstance(assistants, list | tuple):
        return raw
    merged_assistants: list[Any] = []
    for assistant in assistants:
        if not isinstance(assistant, dict):
            merged_assistants.append(assistant)
            continue
        merged = dict(assistant)
        for section in _OVERRIDABLE:
            base = raw.get(section, {})
            own = assistant.get(section, {})
            if isinstance(base, dict) and isinstance(own, dict):
                merged[section] = {**base, **own}
        merged_assistants.append(merged)
    return {**raw, "assistants": merged_assistants}
