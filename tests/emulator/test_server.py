"""Serving the emulator: ephemeral ports, base URL, clean stop."""

from __future__ import annotations

import httpx2
import pytest

from bridge.emulator.server import running_emulator
from bridge.emulator.state import Emulator


@pytest.mark.anyio
async def test_running_emulator_serves_and_stops() -> None:
    """An emulator given to running_emulator is served on 127.0.0.1 and refused after stop."""
    world = Emulator.with_defaults()
    async with running_emulator(world) as running:
        assert running.emulator is world
        assert running.base_url.startswith("http://127.0.0.1:")
        assert world.base_url == running.base_url
        async with httpx2.AsyncClient(base_url=running.base_url) as http:
            assert (await http.get("/_emulator/world")).status_code == 200
    async with httpx2.AsyncClient(base_url=running.base_url) as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get("/_emulator/world")


@pytest.mark.anyio
async def test_disconnecting_the_bus_ends_event_streams() -> None:
    """disconnect_all (run when the server stops) ends an open SSE stream instead of hanging."""
    async with (
        running_emulator() as running,
        httpx2.AsyncClient(base_url=running.base_url) as http,
        http.sse("/_emulator/events") as source,
    ):
        stream = aiter(source)
        assert (await anext(stream)).event == "ready"
        assert running.emulator.bus.subscriber_count == 1
        running.emulator.bus.disconnect_all()
        assert [event async for event in stream] == []
