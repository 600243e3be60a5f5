"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from tests.redis_server import RedisServer


@pytest.fixture
def anyio_backend() -> str:
    """Production runs on asyncio; so do the tests."""
    return "asyncio"


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    """One HTTP client for everything a test sends, closed after it."""
    async with httpx2.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (skips, or fails under CI, without one)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_session: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    assert redis_session.command("FLUSHALL").startswith(b"+OK")
    return redis_session.url
