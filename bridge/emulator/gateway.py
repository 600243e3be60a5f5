"""The Stream gateway of the emulator (placeholder until issue 4's gateway lands)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bridge.emulator.state import Emulator


def gateway_routes(emulator: Emulator) -> list[BaseRoute]:
    """``POST /v1.0/gateway/connections/open`` and the ``/connect`` WebSocket."""
    return []
