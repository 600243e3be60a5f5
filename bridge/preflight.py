"""The network checks of ``bridge serve`` at start-up: wrong credentials stop it, a model
endpoint that is not there yet is only a warning.

``preflight(config, env)`` runs before the service opens anything, on a short-lived HTTP
client of its own, every check at once and each bounded by ``PROBE_TIMEOUT``:

- **DingTalk credentials.** Each assistant asks for an access token once, without
  retries. A refusal (``invalidClientIdOrSecret``, HTTP 400/401/403) means the service
  could never answer: it is a ``PlatformAuthError`` naming the assistant (exit code 3).
  DingTalk not answering is a warning: Stream mode keeps reconnecting on its own.
- **Model endpoints.** Each distinct base URL gets ``GET <base_url>/models``. No
  connection, or no answer in time, is a WARNING naming the URL (it may come up later;
  until then replies fail with the notice), and a refused key (401/403) is a warning too;
  any other answer means the endpoint is there.

Nothing here messages anyone; ``bridge doctor`` checks a deployment more thoroughly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import anyio
import httpx2

from bridge.config import AssistantConfig, Config, LLMConfig, RetryConfig
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.retry import RetryPolicy
from bridge.errors import PlatformAuthError, PlatformError
from bridge.llm.endpoint import endpoint_url
from bridge.llm.source import PLACEHOLDER_API_KEY

__all__ = ["PROBE_TIMEOUT", "preflight"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0
"""Seconds each check may take; start-up never waits longer than this for the network."""


async def preflight(
    config: Config, env: Mapping[str, str], *, limit: float = PROBE_TIMEOUT
) -> None:
    """Check every assistant's credentials and every model endpoint (module docstring).

    ``limit`` bounds each check, in seconds.
    """
    refused: list[PlatformAuthError] = []
    async with httpx2.AsyncClient(timeout=limit) as http, anyio.create_task_group() as tg:
        budget = RateBudget(config.dingtalk.qps_per_api)
        for assistant in config.assistants:
            tg.start_soon(_check_credentials, http, config, assistant, budget, refused, limit)
        endpoints: dict[str, LLMConfig] = {}
        for assistant in config.assistants:
            endpoints.setdefault(assistant.llm.base_url, assistant.llm)
        for llm in endpoints.values():
            tg.start_soon(_check_model, http, llm, env, limit)
    if refused:
        raise refused[0]


async def _check_credentials(
    http: httpx2.AsyncClient,
    config: Config,
    assistant: AssistantConfig,
    budget: RateBudget,
    refused: list[PlatformAuthError],
    limit: float,
) -> None:
    client = DingTalkClient(
        http,
        config.dingtalk,
        client_id=assistant.client_id,
        client_secret=assistant.client_secret.get_secret_value(),
        budget=budget,
        retry=RetryPolicy(RetryConfig(attempts=1)),
    )
    try:
        with anyio.fail_after(limit):
            await client.fetch_access_token()
    except PlatformAuthError as exc:
        refused.append(
            PlatformAuthError(
                f"DingTalk refused the credentials of assistant {assistant.name!r} "
                f"(client_id {assistant.client_id}): {exc.message}",
                operation=exc.operation,
                status=exc.status,
                code=exc.code,
                request_id=exc.request_id,
            )
        )
    except (PlatformError, TimeoutError) as exc:
        log.warning(
            "could not check the credentials of assistant %s: DingTalk at %s did not "
            "answer (%s); starting anyway",
            assistant.name,
            config.dingtalk.api_base,
            str(exc) or "no answer in time",
        )


async def _check_model(
    http: httpx2.AsyncClient, llm: LLMConfig, env: Mapping[str, str], limit: float
) -> None:
    url = endpoint_url(llm.base_url)
    key = llm.api_key.get_secret_value() if llm.api_key is not None else None
    key = key or env.get("OPENAI_API_KEY") or PLACEHOLDER_API_KEY
    try:
        with anyio.fail_after(limit):
            response = await http.get(
                f"{llm.base_url.rstrip('/')}/models",
                headers={"Authorization": f"Bearer {key}"},
            )
    except (httpx2.HTTPError, TimeoutError) as exc:
        log.warning(
            "model endpoint %s is unreachable (%s); starting anyway, replies fail until it answers",
            url,
            _reason(exc),
        )
        return
    if response.status_code in (401, 403):
        log.warning(
            "model endpoint %s refused the API key (HTTP %d); replies will fail until the "
            "key is right",
            url,
            response.status_code,
        )
    else:
        log.debug("model endpoint %s answered HTTP %d", url, response.status_code)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return "no answer in time"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__
