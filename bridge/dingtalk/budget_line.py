"""One lane of the shared rate budget inside one process: its line, and what it owes.

``SharedBudget`` (``bridge.dingtalk.shared_budget``) keeps one ``Line`` per (app,
operation). It holds two things, neither of which does I/O:

- the **waiters** of this process whose tickets are queued in the ledger, in the
  ledger's own order (urgent first, then by score, then by ticket id), so that only the
  first of them asks the ledger again and the others wait for their turn on an event;
- what the ledger must still **learn** of this lane: slots to report (answers, and slots
  the local fallback granted while the ledger was away), tickets to withdraw, and a
  pause from ``back_off``. ``request`` packs all of it into the next exchange, whatever
  that exchange is for, and ``settle`` forgets what the ledger confirmed, keeping what
  changed meanwhile.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import anyio

from bridge.dingtalk.ledger import Carry, Request, Terms, Ticket
from bridge.dingtalk.operations import Operation

__all__ = ["Line", "Pending", "Sent", "Waiter"]


@dataclass(frozen=True, slots=True)
class Pending:
    """A slot to report: ``answered`` on the local clock (``None``: still in flight);
    ``known``: the ledger granted it (see ``Carry``)."""

    answered: float | None
    known: bool


@dataclass(eq=False)
class Waiter:
    """A caller of this process whose ticket waits in the ledger's queue.

    ``not_before`` (local clock): the ledger's least wait, as of its last answer.
    ``turn`` is set when it becomes first in line.
    """

    ticket: Ticket
    not_before: float
    turn: anyio.Event = field(default_factory=anyio.Event)

    @property
    def key(self) -> tuple[int, float, str]:
        """The ledger's order: urgent first, then by score, then by ticket id."""
        return (0 if self.ticket.urgent else 1, self.ticket.score or 0.0, self.ticket.id)


@dataclass(frozen=True, slots=True)
class Sent:
    """What one request told the ledger, to ``settle`` once it answered."""

    carries: dict[str, Pending]
    drops: frozenset[str]
    paused_until: float


class Line:
    """One (app, operation) of the shared budget in this process."""

    def __init__(self, app: str, operation: Operation) -> None:
        self.app = app
        self.operation = operation
        self._line: list[tuple[tuple[int, float, str], Waiter]] = []
        self.changed = anyio.Event()
        self.waiting = 0  # callers inside ``slot``, before their grant
        self.carries: dict[str, Pending] = {}
        self.drops: set[str] = set()
        self.paused_until = float("-inf")  # local clock, from this process's back_off
        self.pause_unsent = False

    @property
    def head(self) -> Waiter | None:
        """The waiter first in line: the only one that asks the ledger again."""
        return self._line[0][1] if self._line else None

    def signal(self) -> None:
        """Wake whoever waits on ``changed``."""
        self.changed.set()
        self.changed = anyio.Event()

    def join(self, waiter: Waiter) -> None:
        """Queue ``waiter``; a head it displaces wakes up and steps back."""
        heapq.heappush(self._line, (waiter.key, waiter))
        if self.head is waiter:
            self.signal()

    def leave(self, waiter: Waiter) -> None:
        """Take ``waiter`` out (granted or gone); the next first in line gets its turn."""
        if self.head is waiter:
            heapq.heappop(self._line)
        else:
            self._line = [entry for entry in self._line if entry[1] is not waiter]
            heapq.heapify(self._line)
        if self._line:
            self._line[0][1].turn.set()
        self.signal()

    def pause(self, until: float) -> None:
        """Start no call before ``until`` (local clock), and tell the ledger."""
        self.paused_until = max(self.paused_until, until)
        self.pause_unsent = True
        self.signal()  # the first in line tells the ledger now

    def owes(self) -> bool:
        """Whether the ledger has something to learn from this lane."""
        return bool(self.carries or self.drops or self.pause_unsent)

    def request(
        self, holder: str, terms: Terms, ticket: Ticket | None, now: float
    ) -> tuple[Request, Sent]:
        """The next exchange: what the lane owes, and ``ticket``'s request if any."""
        for slot, pending in list(self.carries.items()):
            answered = pending.answered
            if not pending.known and answered is not None and answered + terms.hold <= now:
                del self.carries[slot]  # a fallback slot the ledger never heard of, cooled
        sent = Sent(dict(self.carries), frozenset(self.drops), self.paused_until)
        request = Request(
            holder=holder,
            terms=terms,
            carries=tuple(
                Carry(slot, None if p.answered is None else now - p.answered, p.known)
                for slot, p in sent.carries.items()
            ),
            drops=tuple(sent.drops),
            pause=self.paused_until - now if self.pause_unsent else 0.0,
            ticket=ticket,
        )
        return request, sent

    def settle(self, sent: Sent) -> None:
        """The ledger has what ``sent`` told it; keep what changed since."""
        for slot, pending in sent.carries.items():
            if self.carries.get(slot) is pending:
                del self.carries[slot]
        self.drops -= sent.drops
        if self.paused_until == sent.paused_until:
            self.pause_unsent = False
