"""Test helpers for the budgets' tests: the lane they use, a fake clock and a reply's clock."""

from __future__ import annotations

from bridge.dingtalk.operations import Operation

__all__ = ["UPDATE", "FakeClock", "ReplyClock"]

UPDATE = Operation.AI_UPDATE


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ReplyClock:
    """A reply's own clock, on which the reply started ``age`` seconds ago: it reads 0
    when ``reply_started`` is entered and ``age`` ever after."""

    def __init__(self, age: float) -> None:
        self.age = age
        self.value = 0.0

    def __call__(self) -> float:
        value, self.value = self.value, self.age
        return value
