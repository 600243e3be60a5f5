"""Fixtures for the emulator's tests: a served emulator and raw HTTP clients for it.

One server per test module (starting and stopping uvicorn dominates a test's cost);
``emulator`` resets its world before every test, so tests stay independent. The pair
``served_emulator``/``emulator`` is meant to be lifted to the root conftest by the lead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from tests.emulator.wire import TEMPLATE


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Production runs on asyncio; module scope lets one server serve a whole module."""
    return "asyncio"


@pytest.fixture(scope="module")
async def served_emulator() -> AsyncIterator[RunningEmulator]:
    """An emulator served on 127.0.0.1 with an ephemeral port, for one test module."""
    async with running_emulator() as running:
        yield running


@pytest.fixture
def emulator(served_emulator: RunningEmulator) -> RunningEmulator:
    """The served emulator with a fresh default world and the tests' AI card template."""
    served_emulator.emulator.reset()
    served_emulator.emulator.register_template(TEMPLATE, "content")
    return served_emulator


@pytest.fixture
async def http(emulator: RunningEmulator) -> AsyncIterator[httpx2.AsyncClient]:
    """A raw HTTP client pointed at the emulator."""
    async with httpx2.AsyncClient(base_url=emulator.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def control(http: httpx2.AsyncClient, emulator: RunningEmulator) -> EmulatorControl:
    """The typed control-API client."""
    return EmulatorControl(http, emulator.base_url)


@pytest.fixture
async def token(http: httpx2.AsyncClient) -> str:
    """An access token of the default assistant app."""
    response = await http.post(
        "/v1.0/oauth2/accessToken", json={"appKey": DEFAULT_APP, "appSecret": DEFAULT_SECRET}
    )
    assert response.status_code == 200
    value: str = response.json()["accessToken"]
    return value


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    """Headers authenticating as the default assistant app."""
    return {"x-acs-dingtalk-access-token": token}
