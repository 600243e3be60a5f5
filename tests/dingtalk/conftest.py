"""Fixtures for the DingTalk client tests: a served emulator and clients wired to it.

(``anyio_backend`` comes from tests/conftest.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from bridge.config import DingTalkConfig, RetryConfig
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET

#: Short waits so retries do not slow the suite down; the decisions are the same.
FAST_RETRY = RetryConfig(attempts=4, backoff_initial=0.01, backoff_max=0.05, rate_limited_wait=0.05)

MakeClient = Callable[..., DingTalkClient]


#: The AI card template the tests create in the emulator (it knows no other).
TEMPLATE = "test-markdown.schema"


@pytest.fixture
async def served() -> AsyncIterator[RunningEmulator]:
    """The default emulated world with ``TEMPLATE``, served on 127.0.0.1 (ephemeral port)."""
    async with running_emulator() as running:
        running.emulator.register_template(TEMPLATE, "content")
        yield running


@pytest.fixture
def control(http: httpx2.AsyncClient, served: RunningEmulator) -> EmulatorControl:
    """The emulator's control API."""
    return EmulatorControl(http, served.base_url)


@pytest.fixture
def config(served: RunningEmulator) -> DingTalkConfig:
    """Both DingTalk hosts pointed at the emulator, with fast retries."""
    return DingTalkConfig(
        api_base=served.base_url, oapi_base=served.base_url, timeout=5.0, retry=FAST_RETRY
    )


@pytest.fixture
def budget() -> RateBudget:
    """The process-wide budget at the default 20 QPS."""
    return RateBudget(20)


@pytest.fixture
def make_client(http: httpx2.AsyncClient, config: DingTalkConfig, budget: RateBudget) -> MakeClient:
    """Build a client of the default app; keyword arguments override the defaults."""

    def make(
        *,
        client_id: str = DEFAULT_APP,
        client_secret: str = DEFAULT_SECRET,
        config: DingTalkConfig = config,
        budget: RateBudget = budget,
    ) -> DingTalkClient:
        return DingTalkClient(
            http, config, client_id=client_id, client_secret=client_secret, budget=budget
        )

    return make


@pytest.fixture
def client(make_client: MakeClient) -> DingTalkClient:
    """A client of the default assistant app."""
    return make_client()
