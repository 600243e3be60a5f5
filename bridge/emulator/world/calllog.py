"""The call log: every request the emulator answered, in order, errors included.

Tests read it to count and order what the bridge did on the wire (``since`` a sequence
number they noted earlier); the benchmark reads latencies from it. Each record is also
published on the event bus.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bridge.emulator.control.views import CallView
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.world.bus import EventBus, call_logged


class CallLog:
    """An append-only list of ``CallView``s with increasing ``seq`` (from 1)."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._records: list[CallView] = []

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the latest record, 0 when empty."""
        return self._records[-1].seq if self._records else 0

    def record(
        self,
        *,
        operation: Api,
        app: str | None,
        method: str,
        path: str,
        request: Any,
        status: int,
        response: Any,
        error_code: str | None,
        latency: float,
        at: float,
    ) -> CallView:
        """Append one answered request and publish it."""
        view = CallView(
            seq=self.last_seq + 1,
            operation=operation,
            app=app,
            method=method,
            path=path,
            request=request,
            status=status,
            response=response,
            error_code=error_code,
            latency=latency,
            at=at,
        )
        self._records.append(view)
        self._bus.publish(call_logged(view))
        return view

    def since(self, seq: int = 0, operations: Iterable[Api] | None = None) -> list[CallView]:
        """Records after ``seq``, optionally only of some operations, oldest first."""
        wanted = set(operations) if operations is not None else None
        return [
            r for r in self._records if r.seq > seq and (wanted is None or r.operation in wanted)
        ]

    def clear(self) -> None:
        """Forget everything (``seq`` restarts at 1)."""
        self._records.clear()
