"""The seam between the shared rate budget and the books all instances keep together.

``SharedBudget`` (``bridge.dingtalk.shared_budget``) queues, inside one process, the
callers waiting for each lane (app, operation). What every instance must see alike (the
slots taken, the queue of tickets, a pause after a rate-limit answer) lives in a
``Ledger``; ``bridge.state.redis_budget.RedisLedger`` keeps it on the Redis server of the
state store and runs each exchange as one atomic script.

One ``exchange`` does whatever one caller needs in **one round trip**: tell the ledger
about slots it does not know yet (calls answered, calls granted while it was away),
withdraw tickets of callers that gave up, pause the lane, and, with a ``Ticket``, queue
the caller and take a slot if its turn has come. All times inside the ledger are its own
clock's (Redis ``TIME``), so instances on hosts whose clocks disagree still agree on
every window; a ``Request`` carries durations only, and an ``Answer`` says how long to
wait, never until when.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Answer", "Carry", "Ledger", "Request", "Terms", "Ticket"]


@dataclass(frozen=True, slots=True)
class Terms:
    """The budget's rules, the same for every lane, sent with each exchange.

    ``limit`` slots per lane; a slot counts ``hold`` seconds after its call was
    answered, or ``flight`` seconds after it was granted when no answer is ever reported
    (an instance that died mid-call). An instance's tickets stay queued while it asked
    within ``lease`` seconds; it shares the lane's rate (``Answer.active``) while it
    asked within ``active_window``, and counts as a member (``Answer.members``) while it
    asked within ``member_ttl``.
    """

    limit: int
    hold: float
    flight: float
    lease: float
    active_window: float
    member_ttl: float


@dataclass(frozen=True, slots=True)
class Carry:
    """A slot the ledger must learn of, by its id.

    ``ago``: seconds since its call was answered, or ``None`` while it is in flight.
    ``known``: the ledger granted this slot, so only its end changes (if the slot is
    gone, its flight lease ran out and nothing is added); otherwise (a slot granted by
    the local fallback while the ledger was away) it is added.
    """

    slot: str
    ago: float | None
    known: bool


@dataclass(frozen=True, slots=True)
class Ticket:
    """A caller's place in a lane's queue.

    ``id`` is ``<holder>|<counter>`` (the counter zero-padded, so ties sort by arrival).
    Urgent tickets go before all others, ordered by when their reply started (``age``
    seconds ago); the others by arrival. ``score`` is the ledger's once the ticket was
    queued: a ticket dropped meanwhile (its instance stood still past the lease) is
    queued again in the same place.
    """

    id: str
    urgent: bool
    age: float = 0.0
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One exchange with the ledger for one lane (see the module docstring)."""

    holder: str
    terms: Terms
    carries: tuple[Carry, ...] = ()
    drops: tuple[str, ...] = ()
    pause: float = 0.0
    ticket: Ticket | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the ledger says back.

    ``granted``: the ticket took a slot (it is out of the queue, and the slot's id is the
    ticket's). Otherwise ``wait`` is the earliest the ticket could get one, in seconds
    (the lane's pause, or the slots that must free first); ``score`` is its place.
    ``active``: instances that asked within ``Terms.active_window``; ``members``: within
    ``Terms.member_ttl``. Both count this one. ``at``: the ledger's clock when it
    answered (for logs and tests: nobody compares it with a local clock).
    """

    granted: bool
    score: float | None
    wait: float
    active: int
    members: int
    at: float = 0.0


class Ledger(Protocol):
    """Where the shared books are kept."""

    async def exchange(self, app: str, operation: str, request: Request) -> Answer:
        """Run ``request`` on the lane atomically; ``StateError`` when unreachable."""
        ...
