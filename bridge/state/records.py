"""The values a state store keeps: frozen records, with no behaviour and no storage.

Every backend (``memory``, ``sqlite``, and later Redis) stores and returns exactly these,
so the pipeline, the journal of open messages and recovery never see a row or a dict.

- ``Exchange``: one question and its answer, for the next prompt's history;
- ``JournalEntry``: an accepted Turn waiting for its answer (the **Turn journal**);
- ``OpenMessage``: a DingTalk message opened and not yet closed;
- ``Instance``: a running ``bridge`` process and its lease, the **owner** of the two
  above while it lives;
- ``Verdict``: what the store decided when asked to admit a Turn;
- ``StoreCounts``: sizes, for ``/healthz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "Exchange",
    "Instance",
    "JournalEntry",
    "OpenMessage",
    "Role",
    "StoreCounts",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One question and its answer in a conversation."""

    user: str
    assistant: str
    at: float


@dataclass(frozen=True, slots=True)
class OpenMessage:
    """A message opened in DingTalk and not yet closed, with what it takes to close it.

    ``handle`` is a credential (a conversationToken, a card id): the record is deleted
    as soon as the message is closed. ``owner`` is the ``Instance`` streaming it; ""
    means nobody, so recovery may close it at once.
    """

    message_id: str
    assistant: str
    surface: str
    handle: dict[str, Any]
    text: str
    opened_at: float
    owner: str = ""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """An accepted Turn, kept until it is answered or has definitively failed.

    ``payload`` is the Turn as JSON (``Turn.to_json``): the store treats it as opaque
    text, and it holds credentials (webhook URLs, tokens), so it is deleted when the
    Turn is finished. ``lane`` is the conversation: entries of one lane are answered in
    arrival order, one at a time. ``delivery_keys`` are the fingerprints of the Turn's
    delivery ids, claimed with it so a redelivery is recognised (never the ids in clear:
    an AI action's id can be its conversationToken).
    """

    turn_id: str
    lane: str
    payload: str
    accepted_at: float
    owner: str
    delivery_keys: tuple[str, ...] = ()


class Role(StrEnum):
    """What a ``bridge`` process is doing with the store."""

    SERVE = "serve"
    SEND = "send"
    DEV = "dev"


@dataclass(frozen=True, slots=True)
class Instance:
    """A running ``bridge`` process: its work is its own until ``lease_until`` passes.

    A heartbeat pushes ``lease_until`` forward while the process runs; a clean exit
    deletes the record. ``pid`` and ``host`` let a process on the same host tell at once
    that a record's process is gone (killed), without waiting for the lease.
    """

    id: str
    role: Role
    pid: int
    host: str
    started_at: float
    lease_until: float

    def live(self, now: float) -> bool:
        """True while the lease runs."""
        return now < self.lease_until


class Verdict(StrEnum):
    """What ``Store.admit`` did with a Turn."""

    ADMITTED = "admitted"  # journaled, its delivery ids claimed
    DUPLICATE = "duplicate"  # a delivery id was claimed already: nothing recorded
    LANE_FULL = "lane_full"  # its conversation has the most Turns waiting: nothing recorded
    FULL = "full"  # the whole journal is at its bound: nothing recorded


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """How much the store holds now, for ``/healthz``."""

    journaled: int
    open_messages: int
    instances: int
