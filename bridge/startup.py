"""What ``bridge serve`` checks at start-up without the network, and the line it logs then.

``check_startup`` is the one list of start-up checks. ``Bridge`` runs it when it is
built and ``bridge config check`` runs it after loading the file, so a file that passes
the check is a file ``serve`` accepts: the two cannot drift apart. (What needs the
network, credentials and the model endpoint, is ``bridge.preflight``.) It raises the
first problem as a ``ConfigError`` naming the file and the key, or returns what it read
(the prompt templates), so the Bridge uses exactly what was checked:

- there is at least one ``[[assistants]]`` table;
- each assistant's prompt template exists and uses only known variables
  (``bridge.conversation.prompts.load_prompt_set``);
- no model key is empty (an ``${NAME}`` whose variable is set to ""); the other secrets
  are refused empty by the configuration itself (``bridge.config``);
- each model endpoint is an http(s) URL;
- ``[dingtalk] reply_hosts`` lists at least one host, each bare and lowercase
  (``api.dingtalk.com`` or ``host:port``), the form webhook hosts are compared in;
- the folder of the state file exists (or the state is a ``redis://`` URL).

``summary`` is the INFO line ``bridge serve`` logs once it is up: assistants, doors,
surfaces, model endpoints and the state backend, with no secret in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bridge.config import AssistantConfig, Config, LLMConfig
from bridge.conversation.prompts import PromptSet, load_prompt_set
from bridge.errors import ConfigError
from bridge.llm.endpoint import endpoint_url
from bridge.state.redis import is_redis_url, shown_url

__all__ = ["Checked", "check_startup", "describe_state", "summary"]

_BARE_HOST = re.compile(r"^[a-z0-9._\-\[\]:]+$")


@dataclass(frozen=True, slots=True)
class Checked:
    """What the checks read and the service uses: each assistant's prompt templates."""

    prompts: dict[str, PromptSet]


def check_startup(
    config: Config, *, prompts_dir: Path | None = None, source: str | None = None
) -> Checked:
    """Run every start-up check on ``config`` (see the module docstring).

    ``prompts_dir`` overrides ``[serve] prompts_dir``; ``source`` is the configuration
    file, named in the errors about its keys.
    """
    if not config.assistants:
        raise ConfigError("at least one [[assistants]] table is required", file=source)
    _check_secrets(config, source)
    _check_models(config, source)
    _check_reply_hosts(config.dingtalk.reply_hosts, source)
    _check_state(config.serve.state, source)
    directory = Path(prompts_dir or config.serve.prompts_dir)
    if not directory.is_dir():
        raise ConfigError(
            f"prompts folder {str(directory)!r} not found", file=source, key="serve.prompts_dir"
        )
    prompts = {a.name: load_prompt_set(directory, a.prompt) for a in config.assistants}
    return Checked(prompts=prompts)


def _check_secrets(config: Config, source: str | None) -> None:
    def require(secret: SecretStr | None, key: str) -> None:
        if secret is not None and not secret.get_secret_value().strip():
            raise ConfigError(
                "is empty (is its environment variable set to an empty value?)",
                file=source,
                key=key,
            )

    # client_secret, action_token and push_token are refused empty by bridge.config.
    for index, assistant in enumerate(config.assistants):
        require(assistant.llm.api_key, _llm_key(config, index, assistant, "api_key"))


def _check_models(config: Config, source: str | None) -> None:
    for index, assistant in enumerate(config.assistants):
        url = assistant.llm.base_url
        if not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(
                f"must be an http(s) URL such as https://api.openai.com/v1, got {url!r}",
                file=source,
                key=_llm_key(config, index, assistant, "base_url"),
            )


def _llm_key(config: Config, index: int, assistant: AssistantConfig, field: str) -> str:
    """``llm.<field>`` when the value comes from the top-level [llm], else the assistant's."""
    inherited = getattr(assistant.llm, field) == getattr(config.llm, field)
    return f"llm.{field}" if inherited else f"assistants.{index}.llm.{field}"


def _check_reply_hosts(hosts: tuple[str, ...], source: str | None) -> None:
    key = "dingtalk.reply_hosts"
    if not hosts:
        raise ConfigError(
            "is empty: every message carrying a sessionWebhook would be refused",
            file=source,
            key=key,
        )
    for host in hosts:
        if not _BARE_HOST.match(host):
            raise ConfigError(
                f"{host!r} is not a bare lowercase host such as api.dingtalk.com or "
                "127.0.0.1:8765 (no scheme, path or wildcard)",
                file=source,
                key=key,
            )


def _check_state(state: str, source: str | None) -> None:
    if state == ":memory:" or is_redis_url(state):
        return
    if "://" in state:
        raise ConfigError(
            "a URL here must be redis://, rediss:// or unix:// (a Redis server)",
            file=source,
            key="serve.state",
        )
    folder = Path(state).parent
    if not folder.is_dir():
        raise ConfigError(
            f"the folder {str(folder)!r} of the state file does not exist",
            file=source,
            key="serve.state",
        )


def summary(config: Config, *, http_url: str | None = None) -> str:
    """One line saying what runs: assistants, doors, surfaces, models, state; no secret."""
    serve = config.serve
    doors: list[str] = []
    if serve.stream:
        doors.append("stream")
    if serve.http:
        doors.append(f"http {http_url or f'{serve.host}:{serve.port}'}")
        doors.append("push enabled" if serve.push_token is not None else "push off")
    parts = [
        "assistants " + ", ".join(f"{a.name} ({a.client_id})" for a in config.assistants),
        "doors " + (", ".join(doors) or "none"),
        "surfaces " + _per_assistant(config, lambda a: " > ".join(a.delivery.prefer)),
        "model " + _per_assistant(config, lambda a: _model(a.llm)),
        "state " + describe_state(serve.state),
    ]
    return "serving: " + "; ".join(parts)


def describe_state(state: str) -> str:
    """``[serve] state`` in words for logs and /healthz, a Redis password masked."""
    if state == ":memory:":
        return "memory (nothing kept)"
    if is_redis_url(state):
        return f"redis {shown_url(state)}"
    return f"sqlite {state}"


def _model(llm: LLMConfig) -> str:
    return f"{llm.model} at {endpoint_url(llm.base_url)}"


def _per_assistant(config: Config, describe: Callable[[AssistantConfig], str]) -> str:
    """The value once when every assistant shares it, else ``name: value`` for each."""
    values = [describe(a) for a in config.assistants]
    if len(set(values)) == 1:
        return values[0]
    return ", ".join(f"{a.name}: {v}" for a, v in zip(config.assistants, values, strict=True))
