"""The sandbox chat page served by the emulator (placeholder until the sandbox lands)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bridge.emulator.state import Emulator


def page_routes(emulator: Emulator) -> list[BaseRoute]:
    """Routes of the chat page and its static files."""
    return []
