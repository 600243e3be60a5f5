"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Production runs on asyncio; so do the tests."""
    return "asyncio"


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    """One HTTP client for everything a test sends, closed after it."""
    async with httpx2.AsyncClient(timeout=30) as client:
        yield client
