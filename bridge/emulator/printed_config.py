"""A bridge configuration for a running emulator: what ``bridge emulator --print-config`` prints.

The recipe it serves, in two terminals::

    bridge emulator                                  # terminal 1
    bridge emulator --print-config > bridge.toml     # terminal 2
    bridge serve --config bridge.toml

``prepare(control)`` readies the emulator the way a team readies its DingTalk org: it
checks the built-in app is there and creates the AI card template the config names,
through the control API (the emulator, like DingTalk, knows no template nobody
created). ``config_text(...)`` then renders a complete TOML file pointed at the
emulator: its URL for ``api_base``, ``oapi_base`` and the model's ``base_url``, its
host:port as the only reply host and media host (pictures users send are downloaded
from it; the simulated model sees them), Stream mode, the built-in app's Client ID and secret
(written as they are, with a comment: the emulator's secret is no secret) and its
display name, and the template just created. Nothing in it would work against DingTalk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.errors import EmulatorError
from bridge.emulator.model.simulator import MODEL_ID
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET

__all__ = ["EMULATOR_TEMPLATE", "Prepared", "config_text", "fetch_config_text", "prepare"]

EMULATOR_TEMPLATE = ("emulator-markdown.schema", "content")
"""The AI card template (id, streaming variable) ``prepare`` creates for the config."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the printed config needs from the emulator: its URL and the app's name."""

    base_url: str
    app_name: str


async def prepare(control: EmulatorControl, base_url: str) -> Prepared:
    """Check the built-in app exists and create the config's template in the emulator.

    Raises ``EmulatorError`` when the world has no built-in app (it was reset without
    defaults); connection errors reach the caller as ``httpx2`` errors.
    """
    world = await control.world()
    app = next((a for a in world.apps if a.client_id == DEFAULT_APP), None)
    if app is None:
        raise EmulatorError(
            f"the emulator at {base_url} has no app {DEFAULT_APP!r} "
            '(reset it with POST /_emulator/reset {"defaults": true})'
        )
    template_id, key = EMULATOR_TEMPLATE
    await control.register_template(template_id, key)
    return Prepared(base_url=base_url.rstrip("/"), app_name=app.name)


def config_text(prepared: Prepared, *, prompts_dir: Path | None) -> str:
    """The TOML text of a bridge config that works against the emulator (module docstring).

    ``prompts_dir`` is written as given (absolute, so the file works from any folder);
    None leaves the default ``prompts``, relative to where ``bridge serve`` runs.
    """
    url = prepared.base_url
    netloc = urlsplit(url).netloc.lower()
    template_id, key = EMULATOR_TEMPLATE
    prompts = (
        f"prompts_dir = {_toml(str(prompts_dir))}"
        if prompts_dir is not None
        else '# prompts_dir = "prompts"   # the default: run bridge serve where prompts/ is'
    )
    return f"""\
# bridge configuration for the DingTalk emulator at {url}
# Printed by `bridge emulator --print-config`. It works against that emulator only: for
# a real DingTalk organisation start from config.example.toml and docs/dingtalk-setup.md.

[dingtalk]
api_base = {_toml(url)}
oapi_base = {_toml(url)}
# The session webhooks the emulator hands out point at itself (host:port).
reply_hosts = [{_toml(netloc)}]

[llm]
# The emulator's simulated model (OpenAI-compatible); no API key needed.
base_url = {_toml(url + "/v1")}
model = {_toml(MODEL_ID)}
# The simulated model counts characters; any offline tiktoken table will do.
encoding = "o200k_base"
# It takes pictures, and says how many bytes each had.
vision = true

[delivery]
# Created in the emulator just now through its control API (POST /_emulator/templates).
# On DingTalk you create your own in the card platform (docs/dingtalk-setup.md, section 6).
ai_template_id = {_toml(template_id)}
ai_template_key = {_toml(key)}

[media]
# The download URLs of pictures users send point at the emulator itself (host:port).
allowed_hosts = [{_toml(netloc)}]

[serve]
stream = true
http = false
# Nothing to keep: the emulator forgets its world when it stops, too.
state = ":memory:"
{prompts}

[[assistants]]
name = "dev"
# The emulator's built-in AI assistant app. Its secret is not a secret: it is the same
# in every emulator (bridge/emulator/state.py). Never write a real secret here: use
# client_secret = "${{NAME}}" and the environment variable NAME.
client_id = {_toml(DEFAULT_APP)}
client_secret = {_toml(DEFAULT_SECRET)}
# What group messages @-mention it by; the mention is removed from the model's input.
display_names = [{_toml(prepared.app_name)}]
"""


def _toml(value: str) -> str:
    """A TOML basic string (JSON string syntax is valid TOML for these values)."""
    return json.dumps(value, ensure_ascii=False)


async def fetch_config_text(base_url: str, *, prompts_dir: Path | None) -> str:
    """``prepare`` the emulator at ``base_url``, then its ``config_text``."""
    async with httpx2.AsyncClient(timeout=10.0, trust_env=False) as http:
        prepared = await prepare(EmulatorControl(http, base_url), base_url)
    return config_text(prepared, prompts_dir=prompts_dir)
