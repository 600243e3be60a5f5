"""Builds the surfaces of one assistant, and closes messages a crashed process left open.

The router decides *which* surfaces a Turn can use; this module turns a name into an
object wired to the assistant's DingTalk client and settings and the Turn's handles.
Both go through the surface's kind in ``bridge.delivery.registry``: ``build`` is the
kind's ``build``, and ``recover`` hands the handle recorded in the store when the
message opened (``bridge.delivery.journal``) to the kind's ``recover``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.config import AssistantConfig
from bridge.delivery import registry
from bridge.delivery.surface import Surface, SurfaceDeps
from bridge.dingtalk.client import DingTalkClient
from bridge.turn import Turn


class SurfaceFactory:
    """Surfaces of one assistant."""

    def __init__(self, client: DingTalkClient, assistant: AssistantConfig) -> None:
        self._client = client
        self._deps = SurfaceDeps(client=client, assistant=assistant)

    def build(self, turn: Turn, name: str) -> Surface:
        """The surface ``name`` for ``turn``; the router has checked it can serve."""
        return registry.lookup(name).build(self._deps, turn)

    async def recover(self, surface: str, handle: Mapping[str, str], text: str) -> None:
        """Close a message of ``surface`` a previous process opened and never closed."""
        kind = registry.lookup(surface)
        if kind.recover is None:
            raise ValueError(f"surface {surface!r} has no open messages to recover")
        await kind.recover(self._client, handle, text)
