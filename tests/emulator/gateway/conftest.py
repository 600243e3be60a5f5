"""Fixtures of the gateway tests."""

from __future__ import annotations

import pytest

from bridge.emulator.control.client import EmulatorControl
from tests.emulator.gateway.ws import QUIET


@pytest.fixture
async def quiet(control: EmulatorControl) -> EmulatorControl:
    """The control client, with the gateway's own timers off."""
    await control.set_stream_settings(QUIET)
    return control
