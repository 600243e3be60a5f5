"""What the pipeline says to a door that hands it a Turn: accepted, duplicate, busy, closed…

A door (Stream, HTTP callback, action, push) turns what it received into a ``Turn`` and
awaits ``Pipeline.accept``; the ``Admission`` tells it how to answer the sender:

- ``ACCEPTED``: the Turn is recorded and will be answered (ACK 200, HTTP 200);
- ``DUPLICATE``: a redelivery of a Turn already accepted; its answer is (or was) given
  once, this delivery changes nothing (ACK 200, HTTP 200: the platform must not retry);
- ``BUSY``: past a queue bound; nothing was recorded and the sender should come back
  after ``retry_after`` seconds (HTTP 429 with ``Retry-After``);
- ``CLOSED``: the process is shutting down; nothing was recorded (HTTP 503);
- ``UNAVAILABLE``: the state store cannot be reached, so the Turn could not be
  journaled; the sender should try again (HTTP 503 with ``Retry-After``, Stream ACK
  503: not ACKed 200, so DingTalk may redeliver).

The door decides what each means on its wire; the pipeline only decides which it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Admission", "Outcome"]


class Outcome(StrEnum):
    """The pipeline's decision about one Turn."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    BUSY = "busy"
    CLOSED = "closed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Admission:
    """The decision, why, and for ``BUSY`` when to come back."""

    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None

    @property
    def taken(self) -> bool:
        """True when the Turn is (or already was) going to be answered."""
        return self.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE)


ACCEPTED = Admission(Outcome.ACCEPTED)
