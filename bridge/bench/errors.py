"""The benchmark's branch of the error tree: it could not run (not a bad figure)."""

from __future__ import annotations

from bridge.errors import BridgeError

__all__ = ["BenchError"]


class BenchError(BridgeError):
    """The benchmark could not run: the emulator would not start, a setting is invalid."""
