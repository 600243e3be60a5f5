"""``bridge doctor --config FILE``: will this deployment work? Asked of the platform itself.

Every check talks to the DingTalk (or emulator) and model endpoints the file names, and
none of them messages anyone:

- **configuration**: the file loads and passes every start-up check of ``bridge serve``
  (``bridge.startup.check_startup``, the same as ``bridge config check``); if it does
  not, nothing else is checked;
- per assistant, **credentials**: one access-token call (A), no retry;
- per assistant, **stream ticket**: the Stream gateway is asked for a ticket (M) with
  the topics ``bridge serve`` subscribes to, and the WebSocket is **not** opened: an
  open connection could be handed a user's message that nobody would answer. Skipped
  when ``[serve] stream`` is off;
- per assistant, **card templates** in use (``ai_template_id`` for ``ai_reply`` and
  ``ai_stepwise``, ``card_template_id`` for ``ai_card``). DingTalk has no API that reads
  a card template, and sending one to find out would message someone, so against
  DingTalk they are reported **not checkable** (the first reply checks them: "card
  template not exist"). Against the emulator, which knows its templates, they are
  checked through its control API (``GET /_emulator/world``): the template must exist
  and stream the configured variable. That API is only asked when ``api_base`` is not
  DingTalk's own host;
- per model endpoint, **model**: ``GET <base_url>/models`` answers, and does not refuse
  the key.

The result is a table (check, result, details and what to do) on stdout. The exit code
is 0 when nothing failed, else the code of the first failure's kind: 2 configuration,
3 DingTalk, 4 model. "not checkable" and "skipped" are not failures.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import anyio
import httpx2
import typer
from pydantic import ValidationError

from bridge.config import (
    AI_TEMPLATE_SURFACES,
    AssistantConfig,
    Config,
    LLMConfig,
    RetryConfig,
    load_config,
)
from bridge.console import setup_logging
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.retry import RetryPolicy
from bridge.dingtalk.wire import Subscription
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import WorldView
from bridge.emulator.errors import EmulatorError
from bridge.errors import ConfigError, ExitCode, PlatformAuthError, PlatformError
from bridge.inbound.stream_door import TOPICS
from bridge.llm.endpoint import endpoint_url
from bridge.llm.source import PLACEHOLDER_API_KEY
from bridge.startup import check_startup

__all__ = ["Check", "Result", "diagnose", "doctor", "exit_code", "render", "template_checks"]

LIMIT = 10.0
"""Seconds each check may take."""

DINGTALK_HOSTS = ("api.dingtalk.com", "oapi.dingtalk.com")
"""Where the real platform lives: never asked for an emulator's control API."""

SETUP = "docs/dingtalk-setup.md"


class Result(StrEnum):
    """What a check found."""

    OK = "ok"
    FAIL = "FAIL"
    NOT_CHECKABLE = "not checkable"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Check:
    """One row: what was checked, the result, what was found and what to do about it."""

    name: str
    result: Result
    details: str
    kind: ExitCode = ExitCode.OK  # for a failure: the exit code of its kind


def fail(name: str, details: str, kind: ExitCode) -> Check:
    return Check(name, Result.FAIL, details, kind)


async def diagnose(path: Path, env: Mapping[str, str], *, limit: float = LIMIT) -> list[Check]:
    """Every check of the module docstring for the config file at ``path``."""
    try:
        config = load_config(path, env)
        check_startup(config, source=str(path))
    except ConfigError as exc:
        return [
            fail("configuration", f"{exc} → fix the file; `bridge config check`", ExitCode.CONFIG)
        ]
    names = ", ".join(a.name for a in config.assistants)
    checks = [Check("configuration", Result.OK, f"{path} passes the start-up checks ({names})")]
    async with httpx2.AsyncClient(timeout=limit, trust_env=False) as http:
        world = await _emulator_world(http, config.dingtalk.api_base, limit)
        budget = RateBudget(config.dingtalk.qps_per_api)
        for assistant in config.assistants:
            client = DingTalkClient(
                http,
                config.dingtalk,
                client_id=assistant.client_id,
                client_secret=assistant.client_secret.get_secret_value(),
                budget=budget,
                retry=RetryPolicy(RetryConfig(attempts=1)),
            )
            checks.append(await _credentials(assistant, client, config, limit))
            checks.append(await _stream_ticket(assistant, client, config, limit))
            checks += template_checks(assistant, config.dingtalk.api_base, world)
        endpoints: dict[str, LLMConfig] = {}
        for assistant in config.assistants:
            endpoints.setdefault(assistant.llm.base_url, assistant.llm)
        for llm in endpoints.values():
            checks.append(await _model(http, llm, env, limit))
    return checks


async def _credentials(
    assistant: AssistantConfig, client: DingTalkClient, config: Config, limit: float
) -> Check:
    name = f"{assistant.name}: credentials"
    try:
        with anyio.fail_after(limit):
            token = await client.fetch_access_token()
    except PlatformAuthError as exc:
        return fail(
            name,
            f"DingTalk refused client_id {assistant.client_id}: {exc.message} → copy the "
            f"Client ID and Secret again from the app or assistant ({SETUP}, 3.1 / 4.1) and "
            "check the environment variable that holds the secret",
            ExitCode.PLATFORM,
        )
    except (PlatformError, TimeoutError) as exc:
        return fail(name, _unanswered(config.dingtalk.api_base, exc), ExitCode.PLATFORM)
    return Check(name, Result.OK, f"access token issued (valid {token.expires_in:.0f} s)")


async def _stream_ticket(
    assistant: AssistantConfig, client: DingTalkClient, config: Config, limit: float
) -> Check:
    name = f"{assistant.name}: stream ticket"
    if not config.serve.stream:
        return Check(name, Result.SKIPPED, "[serve] stream = false: HTTP callbacks only")
    try:
        with anyio.fail_after(limit):
            ticket = await client.open_stream([Subscription.callback(t) for t in TOPICS])
    except PlatformAuthError as exc:
        return fail(
            name,
            f"the Stream gateway refused {assistant.client_id}: {exc.message} → check the "
            "credentials, and that the app receives messages in Stream mode "
            f"(消息接收模式: Stream 模式, {SETUP} 3.2)",
            ExitCode.PLATFORM,
        )
    except (PlatformError, TimeoutError) as exc:
        return fail(name, _unanswered(config.dingtalk.api_base, exc), ExitCode.PLATFORM)
    return Check(
        name,
        Result.OK,
        f"ticket issued for {ticket.endpoint} (not connected: a connection could be handed "
        "a user's message that nobody would answer)",
    )


def template_checks(
    assistant: AssistantConfig, api_base: str, world: WorldView | None
) -> list[Check]:
    """The card templates ``assistant`` uses: checked in ``world`` (an emulator's), else
    "not checkable" (DingTalk cannot be asked without messaging someone)."""
    delivery = assistant.delivery
    wanted: list[tuple[str, str, str, list[str]]] = []
    ai_surfaces = [s for s in delivery.prefer if s in AI_TEMPLATE_SURFACES]
    if ai_surfaces and delivery.ai_template_id is not None:
        wanted.append(
            ("ai_template", delivery.ai_template_id, delivery.ai_template_key, ai_surfaces)
        )
    if "ai_card" in delivery.prefer:
        wanted.append(
            ("card_template", delivery.card_template_id, delivery.card_template_key, ["ai_card"])
        )
    if not wanted:
        return [
            Check(
                f"{assistant.name}: card templates",
                Result.SKIPPED,
                "prefer lists no surface that shows a card template",
            )
        ]
    return [_template(assistant.name, *item, api_base=api_base, world=world) for item in wanted]


def _template(
    assistant: str,
    key: str,
    template_id: str,
    variable: str,
    surfaces: list[str],
    *,
    api_base: str,
    world: WorldView | None,
) -> Check:
    name = f"{assistant}: {key}"
    used_by = f"{key}_id {template_id} (variable {variable}, for {', '.join(surfaces)})"
    if world is None:
        where = (
            "DingTalk has no API that reads a card template"
            if _is_dingtalk(api_base)
            else f"{api_base} is not DingTalk and answers no emulator control API"
        )
        return Check(
            name,
            Result.NOT_CHECKABLE,
            f'{used_by}: {where}; the first reply checks it ("card template not exist", '
            f'"card streaming key invalid") → compare the id and the streaming variable '
            f"with the template in the card platform ({SETUP}, section 6)",
        )
    found = next((t for t in world.templates if t.template_id == template_id), None)
    if found is None:
        return fail(
            name,
            f"{used_by}: the emulator has no such template → create it there "
            "(POST /_emulator/templates) or use `bridge emulator --print-config`",
            ExitCode.PLATFORM,
        )
    if variable not in found.streaming_variables:
        streams = ", ".join(found.streaming_variables) or "nothing"
        return fail(
            name,
            f"{used_by}: the template streams {streams}, not {variable} → set {key}_key",
            ExitCode.PLATFORM,
        )
    return Check(name, Result.OK, f"{used_by} exists in the emulator and streams {variable}")


async def _model(
    http: httpx2.AsyncClient, llm: LLMConfig, env: Mapping[str, str], limit: float
) -> Check:
    url = endpoint_url(llm.base_url)
    name = f"model {llm.model}"
    key = llm.api_key.get_secret_value() if llm.api_key is not None else None
    key = key or env.get("OPENAI_API_KEY") or PLACEHOLDER_API_KEY
    try:
        with anyio.fail_after(limit):
            response = await http.get(
                f"{llm.base_url.rstrip('/')}/models", headers={"Authorization": f"Bearer {key}"}
            )
    except (httpx2.HTTPError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        return fail(name, f"{url} did not answer ({reason}) → check [llm] base_url", ExitCode.LLM)
    if response.status_code in (401, 403):
        return fail(
            name,
            f"{url} refused the API key (HTTP {response.status_code}) → check [llm] api_key "
            "or OPENAI_API_KEY",
            ExitCode.LLM,
        )
    return Check(name, Result.OK, f"{url} answers (GET /models: HTTP {response.status_code})")


async def _emulator_world(
    http: httpx2.AsyncClient, api_base: str, limit: float
) -> WorldView | None:
    """The emulator's world when ``api_base`` is an emulator; never asks DingTalk."""
    if _is_dingtalk(api_base):
        return None
    try:
        with anyio.fail_after(limit):
            return await EmulatorControl(http, api_base).world()
    except (httpx2.HTTPError, TimeoutError, ValueError, ValidationError, EmulatorError):
        return None


def _is_dingtalk(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in DINGTALK_HOSTS or host.endswith(".dingtalk.com")


def _unanswered(api_base: str, exc: BaseException) -> str:
    reason = str(exc) or "no answer in time"
    return f"{api_base} did not answer as DingTalk ({reason}) → check [dingtalk] api_base"


# ------------------------------------------------------------------------ output


def exit_code(checks: Sequence[Check]) -> ExitCode:
    """0 when nothing failed, else the kind of the first failure."""
    return next((c.kind for c in checks if c.result is Result.FAIL), ExitCode.OK)


def render(checks: Sequence[Check], *, width: int = 100) -> str:
    """The checks as a plain-text table: check, result, details and what to do."""
    name_width = max(len("check"), *(len(c.name) for c in checks))
    result_width = max(len("result"), *(len(c.result.value) for c in checks))
    details_width = max(30, width - name_width - result_width - 4)
    lines = [
        f"{'check':<{name_width}}  {'result':<{result_width}}  details / what to do",
        f"{'-' * name_width}  {'-' * result_width}  {'-' * min(details_width, 40)}",
    ]
    for check in checks:
        wrapped = textwrap.wrap(check.details, details_width) or [""]
        lines.append(
            f"{check.name:<{name_width}}  {check.result.value:<{result_width}}  {wrapped[0]}"
        )
        pad = " " * (name_width + result_width + 4)
        lines += [f"{pad}{more}" for more in wrapped[1:]]
    failed = sum(c.result is Result.FAIL for c in checks)
    lines.append("")
    lines.append(f"{failed} check(s) failed" if failed else "nothing failed")
    return "\n".join(lines) + "\n"


def doctor(
    config: Annotated[Path, typer.Option("--config", "-c", help="The TOML configuration file.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
) -> None:
    """Check a deployment against DingTalk and the model, messaging nobody.

    Configuration, each assistant's credentials and Stream ticket (not connected), its
    card templates (checkable against the emulator only), each model endpoint. Prints a
    table; exits 2, 3 or 4 (configuration, DingTalk, model) when a check failed.
    """
    setup_logging(verbose)
    checks = anyio.run(diagnose, config, os.environ)
    typer.echo(render(checks), nl=False)
    raise typer.Exit(int(exit_code(checks)))
