"""Injected faults and the platform's rate limits (QPS per app and API, monthly quota).

Faults are installed per operation through the control API and matched in order; the
RNG behind ``rate`` is seeded so a run with the same seed fails the same calls. QPS
windows are one second of real monotonic time (the emulated clock can jump; a rate limit
must not), and a rejected call does not consume the window.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from bridge.emulator.control.views import FaultSpec, FaultView, LimitsView
from bridge.emulator.errors import Rejection
from bridge.emulator.openapi.endpoints import Api


@dataclass
class Fault:
    """An installed fault with its counters."""

    id: int
    spec: FaultSpec
    seen: int = 0
    fired: int = 0

    def view(self) -> FaultView:
        """The control-API shape."""
        return FaultView(id=self.id, spec=self.spec, seen=self.seen, fired=self.fired)

    @property
    def exhausted(self) -> bool:
        """True once it has fired ``count`` times."""
        return self.spec.count is not None and self.fired >= self.spec.count


class Faults:
    """The installed faults, consulted once per request."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: FaultSpec) -> Fault:
        """Install a fault; returns it with its id."""
        fault = Fault(id=self._next_id, spec=spec)
        self._next_id += 1
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        """Uninstall one fault; False if there was none with that id."""
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self, seed: int | None = None) -> None:
        """Uninstall every fault and reseed the RNG."""
        self._faults.clear()
        self._random = random.Random(self._seed if seed is None else seed)

    def all(self) -> list[Fault]:
        """Installed faults, oldest first."""
        return list(self._faults)

    def draw(self, operation: Api) -> Fault | None:
        """The fault that fires on this call of ``operation``, if any.

        Every live fault on the operation counts the call (``seen``); the first one past
        its ``after`` that wins its ``rate`` roll fires.
        """
        chosen: Fault | None = None
        for fault in self._faults:
            if fault.spec.operation != operation or fault.exhausted:
                continue
            fault.seen += 1
            if chosen is not None or fault.seen <= fault.spec.after:
                continue
            if fault.spec.rate >= 1.0 or self._random.random() < fault.spec.rate:
                fault.fired += 1
                chosen = fault
        return chosen


def qps_exceeded() -> Rejection:
    """The 403 of a per-app, per-API rate limit."""
    return Rejection(
        403,
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        "调用频率超过限制: app 和 api 维度的 QPS 超限",
    )


def quota_exceeded() -> Rejection:
    """The 403 of a used-up monthly quota."""
    return Rejection(
        403, "Forbidden.AccessDenied.ApiCountLimitForOrg", "当月 API 调用总量已超出限制"
    )


class RateLimiter:
    """Sliding one-second windows per (app, operation).

    ``monotonic`` is injectable so tests can freeze time instead of racing the window.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._windows: dict[tuple[str, Api], deque[float]] = defaultdict(deque)

    def admit(self, app: str, operation: Api, limits: LimitsView) -> bool:
        """Take a slot in the window, or return False (taking nothing) when it is full."""
        limit = limits.qps_per_operation.get(operation, limits.qps)
        window = self._windows[(app, operation)]
        now = self._monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def clear(self) -> None:
        """Forget every window."""
        self._windows.clear()
