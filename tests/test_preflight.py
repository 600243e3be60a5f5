"""Tests of bridge.preflight: serve's network checks against the emulator, over loopback."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.config import Config
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.errors import PlatformAuthError
from bridge.preflight import preflight
from bridge.serving import running_server

pytestmark = pytest.mark.anyio


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    """The emulator, served on an ephemeral port for one test."""
    async with running_emulator() as running:
        yield running


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def config(dingtalk: str, model: str, *, secret: str = "dev-secret", **llm: Any) -> Config:
    """One assistant (the emulator's default app) with DingTalk and the model at these URLs."""
    return Config.model_validate(
        {
            "dingtalk": {"api_base": dingtalk, "oapi_base": dingtalk},
            "llm": {"base_url": model, **llm},
            "delivery": {"ai_template_id": "t.schema"},
            "assistants": [
                {"name": "helpdesk", "client_id": "dingbridge-dev", "client_secret": secret}
            ],
        }
    )


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages preflight logged at WARNING."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bridge.preflight" and r.levelno == logging.WARNING
    ]


async def test_right_credentials_and_a_live_model_pass_silently(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything there: no error, no warning."""
    await preflight(config(emulator.base_url, f"{emulator.base_url}/v1"), {})
    assert warnings(caplog) == []


async def test_wrong_credentials_raise_naming_the_assistant(emulator: RunningEmulator) -> None:
    """A refused client secret is a PlatformAuthError (exit 3) naming assistant and app."""
    with pytest.raises(PlatformAuthError) as caught:
        await preflight(config(emulator.base_url, f"{emulator.base_url}/v1", secret="wrong"), {})
    message = str(caught.value)
    assert "assistant 'helpdesk' (client_id dingbridge-dev)" in message
    assert "invalidClientIdOrSecret" in message
    assert "wrong" not in message


async def test_unreachable_model_is_a_warning_naming_its_url(
    emulator: RunningEmulator, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A model endpoint that refuses connections: a warning with its URL, no error."""
    url = f"http://127.0.0.1:{closed_port}/v1"
    await preflight(config(emulator.base_url, url, api_key="sk-hidden"), {})
    [warning] = warnings(caplog)
    assert warning.startswith(f"model endpoint {url} is unreachable (connection refused)")
    assert "sk-hidden" not in warning


async def test_refused_model_key_is_a_warning(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A model endpoint answering 401 to GET /models: a warning that the key is refused."""

    async def refuse(request: Request) -> Response:
        return JSONResponse({"error": {"message": "bad key"}}, status_code=401)

    app = Starlette(routes=[Route("/v1/models", refuse)])
    async with running_server(app) as url:
        await preflight(config(emulator.base_url, f"{url}/v1"), {})
    [warning] = warnings(caplog)
    assert warning.startswith(f"model endpoint {url}/v1 refused the API key (HTTP 401)")


async def test_any_other_answer_means_the_model_is_there(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An endpoint without GET /models (404) is still reachable: no warning."""
    await preflight(config(emulator.base_url, f"{emulator.base_url}/elsewhere"), {})
    assert warnings(caplog) == []


async def test_unreachable_dingtalk_is_a_warning(
    emulator: RunningEmulator, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """DingTalk not answering does not stop start-up (Stream mode keeps reconnecting)."""
    dingtalk = f"http://127.0.0.1:{closed_port}"
    await preflight(config(dingtalk, f"{emulator.base_url}/v1"), {})
    [warning] = warnings(caplog)
    assert warning.startswith("could not check the credentials of assistant helpdesk")
    assert dingtalk in warning
