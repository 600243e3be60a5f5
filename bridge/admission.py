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

A Turn answered directly, with no journal (a push), is held to the same bounds
(``IntakeLimits``) by ``Places``: past them it is ``Refused`` (BUSY) before anything runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from bridge.errors import InboundError

__all__ = ["Admission", "IntakeLimits", "Outcome", "Places", "Refused"]


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


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """How much may wait, and what happens to what waited too long (``[serve]`` keys)."""

    per_conversation: int = 20
    total: int = 2000
    retry_after: float = 10.0
    replay_max_age: float = 3600.0
    lost_notice: str = "（抱歉，服务重启，这条消息的回答已丢失，请重新提问）"


class Refused(InboundError):
    """A Turn answered directly that the pipeline did not take; ``admission`` says why."""

    def __init__(self, admission: Admission) -> None:
        status = 429 if admission.outcome is Outcome.BUSY else 503
        super().__init__(admission.reason, status=status)
        self.admission = admission


class Places:
    """The Turns answered directly (pushes) in progress, per conversation and in all.

    A push holds its place from the moment it is taken until its answer ends, waiting
    for a reply slot or running, like a journaled Turn holds its journal entry; so the
    same ``IntakeLimits`` bound both. ``others`` is how many journaled Turns already
    count against ``total``.
    """

    def __init__(self, limits: IntakeLimits) -> None:
        self._limits = limits
        self._held: Counter[str] = Counter()

    def admit(self, conversation: str, *, others: int) -> Admission:
        """ACCEPTED when one more push fits in ``conversation``; BUSY and why when not."""
        limits = self._limits
        if self._held[conversation] >= limits.per_conversation:
            reason = f"{limits.per_conversation} pushes to this conversation run already"
        elif self._held.total() + others >= limits.total:
            reason = f"{limits.total} messages wait already"
        else:
            return ACCEPTED
        return Admission(Outcome.BUSY, reason, retry_after=limits.retry_after)

    @contextmanager
    def held(self, conversation: str, *, others: int) -> Iterator[None]:
        """Hold a place in ``conversation`` for the block; ``Refused`` when none is free."""
        admission = self.admit(conversation, others=others)
        if not admission.taken:
            raise Refused(admission)
        self._held[conversation] += 1
        try:
            yield
        finally:
            self._held[conversation] -= 1
            if not self._held[conversation]:
                del self._held[conversation]
