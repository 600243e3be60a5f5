"""Test helpers for ``bridge.dingtalk.budget``'s tests: the lane they use and a fake clock."""

from __future__ import annotations

from bridge.dingtalk.operations import Operation

__all__ = ["UPDATE", "FakeClock"]

UPDATE = Operation.AI_UPDATE


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now
