"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Production runs on asyncio; so do the tests."""
    return "asyncio"
