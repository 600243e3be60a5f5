"""Fixtures for the sandbox's tests: one running sandbox per module, and a real chromium.

The sandbox is what ``bridge dev`` runs (``running_sandbox``), served on 127.0.0.1 with
an ephemeral port. Starting it (tiktoken tables, uvicorn, two Stream connections) and
chromium dominates a test's cost, so both live for a module; tests do not reset the
world (that would drop the sandbox's extra app), they look only at what they caused.

Browser rule: the browser is Debian's chromium at ``/usr/bin/chromium`` (or
``$BRIDGE_CHROMIUM``), driven by Playwright, never a downloaded one. When it is missing
the browser tests skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.sandbox.runner import Sandbox, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Production runs on asyncio; module scope lets one sandbox serve a whole module."""
    return "asyncio"


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[Sandbox]:
    """The sandbox, exactly as ``bridge dev`` runs it, with the simulated model."""
    async with running_sandbox(env={}) as running:
        yield running


@pytest.fixture
async def control(sandbox: Sandbox) -> AsyncIterator[EmulatorControl]:
    """The typed control-API client of the sandbox's emulator."""
    async with httpx2.AsyncClient(timeout=10) as http:
        yield EmulatorControl(http, sandbox.emulator.base_url)


def chromium_path() -> Path:
    """The browser to drive, or skip (fail under CI) with the reason."""
    path = Path(os.environ.get("BRIDGE_CHROMIUM", "/usr/bin/chromium"))
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    if not path.is_file():
        _missing(f"no chromium at {path} (apt-get install chromium, or set BRIDGE_CHROMIUM)")
    return path


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """A headless chromium for the module (skipped when there is none, see above)."""
    path = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(path), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Any, sandbox: Sandbox) -> AsyncIterator[Any]:
    """The chat page, loaded and following the event stream; page errors fail the test."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    await opened.goto(sandbox.url)
    await opened.wait_for_selector('body[data-ready="true"]')
    try:
        yield opened
    finally:
        await context.close()
    assert errors == [], f"the page raised: {errors}"


async def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of ``page`` as ``test-artifacts/sandbox-<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"sandbox-{name}.png"
    await page.screenshot(path=str(path))
    return path
