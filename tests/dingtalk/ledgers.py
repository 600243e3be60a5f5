"""Test helpers for the shared budget: a ledger that records, and the window count.

``RecordingLedger`` wraps the real ``RedisLedger`` and writes down, in the ledger's own
clock (Redis ``TIME``), when each slot was granted and when its call was answered, so
the bound is checked in the one clock all instances share rather than in each
process's. ``most_in_a_window`` is the check itself.
"""

from __future__ import annotations

import anyio

from bridge.dingtalk.ledger import Answer, Ledger, Request

__all__ = ["RecordingLedger", "most_in_a_window"]


class RecordingLedger:
    """A ``Ledger`` that records grants, answers and queued tickets of its budget."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.granted: dict[str, float] = {}  # slot id → when granted (ledger clock)
        self.answered: dict[str, float] = {}  # slot id → when its call was answered
        self.order: list[str] = []  # slot ids in grant order
        self.queued = 0  # tickets that had to wait
        self.paused_until: list[float] = []  # pauses this budget told the ledger of
        self.exchanges = 0
        self.changed = anyio.Event()

    async def exchange(self, app: str, operation: str, request: Request) -> Answer:
        answer = await self.inner.exchange(app, operation, request)
        self.exchanges += 1
        ticket = request.ticket
        if ticket is not None and answer.granted:
            self.granted[ticket.id] = answer.at
            self.order.append(ticket.id)
        elif ticket is not None and ticket.score is None:
            self.queued += 1
        if request.pause > 0:
            self.paused_until.append(answer.at + request.pause)
        for carry in request.carries:
            if carry.known and carry.ago is not None and carry.slot in self.granted:
                self.answered.setdefault(carry.slot, answer.at - carry.ago)
        self.changed.set()
        self.changed = anyio.Event()
        return answer

    async def until_queued(self, count: int) -> None:
        """Wait until ``count`` tickets of this ledger's budget were queued."""
        with anyio.fail_after(10):
            while self.queued < count:
                await self.changed.wait()

    def calls(self) -> list[tuple[float, float]]:
        """(granted, answered) of every call reported answered."""
        return [(self.granted[s], self.answered[s]) for s in self.granted if s in self.answered]


def most_in_a_window(calls: list[tuple[float, float]], window: float) -> int:
    """The most calls a server counting over ``window`` seconds could see at once.

    A server counts a call at some instant between its grant and its answer, so a window
    ending at ``T`` may hold every call granted by ``T`` and answered after ``T - window``.
    The count only rises at a grant, so checking the windows ending at grants suffices.
    """
    return max(
        (sum(1 for g, a in calls if g <= end and a >= end - window) for end, _ in calls),
        default=0,
    )
