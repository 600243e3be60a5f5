"""``MemoryStore``: the state store in process memory (tests, ``bridge dev``, ``":memory:"``).

Nothing survives the process, and nothing is shared with another one: it keeps the
``Store`` contract (``bridge.state.base``) for code that runs in one process. Every
method finishes without awaiting anything, so each one is atomic for the event loop.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from bridge.state.records import (
    Exchange,
    Instance,
    JournalEntry,
    OpenMessage,
    StoreCounts,
    Verdict,
)

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _Claim:
    at: float
    turn_id: str


class MemoryStore:
    """``Store`` in dicts; nothing survives the process."""

    def __init__(self) -> None:
        self._history: dict[str, list[Exchange]] = {}
        self._seen: dict[str, _Claim] = {}
        # Insertion order is arrival order: entries are only ever added at the end.
        self._journal: dict[str, JournalEntry] = {}
        self._open: dict[str, OpenMessage] = {}
        self._opened_order = itertools.count()
        self._open_seq: dict[str, int] = {}
        self._instances: dict[str, Instance] = {}

    @property
    def shared(self) -> bool:
        return False

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- history -------------------------------------------------------------------

    async def history(self, key: str, *, now: float, ttl: float, limit: int) -> list[Exchange]:
        fresh = [e for e in self._history.get(key, []) if now - e.at <= ttl]
        return fresh[-limit:] if limit else []

    async def remember(
        self, key: str, exchange: Exchange, *, limit: int, now: float, ttl: float
    ) -> None:
        for other in list(self._history):
            kept = [e for e in self._history[other] if now - e.at <= ttl]
            if kept:
                self._history[other] = kept
            else:
                del self._history[other]
        kept = [*self._history.get(key, []), exchange][-limit:] if limit else []
        if kept:
            self._history[key] = kept

    # -- the Turn journal ------------------------------------------------------------

    async def admit(
        self,
        entry: JournalEntry,
        *,
        now: float,
        dedup_ttl: float,
        max_per_lane: int,
        max_total: int,
    ) -> Verdict:
        for key, claim in list(self._seen.items()):
            if claim.at < now - dedup_ttl and claim.turn_id not in self._journal:
                del self._seen[key]
        if any(key in self._seen for key in entry.delivery_keys):
            return Verdict.DUPLICATE
        if sum(1 for e in self._journal.values() if e.lane == entry.lane) >= max_per_lane:
            return Verdict.LANE_FULL
        if len(self._journal) >= max_total:
            return Verdict.FULL
        for key in entry.delivery_keys:
            self._seen[key] = _Claim(now, entry.turn_id)
        # A lane's Turns share one owner: a Turn joins the Turns already waiting.
        owner = next((e.owner for e in self._journal.values() if e.lane == entry.lane), None)
        if owner is not None:
            entry = replace(entry, owner=owner)
        self._journal[entry.turn_id] = entry
        return Verdict.ADMITTED

    async def finish(self, turn_id: str, *, now: float) -> None:
        entry = self._journal.pop(turn_id, None)
        if entry is None:
            return
        for key in entry.delivery_keys:
            if key in self._seen:
                self._seen[key] = _Claim(now, turn_id)

    async def journaled(self, *, owner: str | None = None) -> list[JournalEntry]:
        return [e for e in self._journal.values() if owner is None or e.owner == owner]

    async def adopt_turns(self, owner: str, *, now: float) -> list[JournalEntry]:
        adopted = []
        for turn_id, entry in self._journal.items():
            if not self._owned(entry.owner, now):
                self._journal[turn_id] = entry = replace(entry, owner=owner)
                adopted.append(entry)
        return adopted

    async def next_turn(self, lane: str, owner: str) -> JournalEntry | None:
        head = next((e for e in self._journal.values() if e.lane == lane), None)
        return head if head is not None and head.owner == owner else None

    async def lanes(self, owner: str) -> list[str]:
        return list(dict.fromkeys(e.lane for e in self._journal.values() if e.owner == owner))

    # -- open messages -----------------------------------------------------------------

    async def opened(self, message: OpenMessage) -> None:
        if message.message_id not in self._open:
            self._open_seq[message.message_id] = next(self._opened_order)
        self._open[message.message_id] = message

    async def closed(self, message_id: str) -> None:
        self._open.pop(message_id, None)
        self._open_seq.pop(message_id, None)

    async def open_messages(self) -> list[OpenMessage]:
        return sorted(self._open.values(), key=self._message_order)

    async def adopt_messages(self, owner: str, *, now: float) -> list[OpenMessage]:
        adopted = []
        for message in await self.open_messages():
            if not self._owned(message.owner, now):
                self._open[message.message_id] = message = replace(message, owner=owner)
                adopted.append(message)
        return adopted

    def _message_order(self, message: OpenMessage) -> tuple[float, int]:
        return (message.opened_at, self._open_seq[message.message_id])

    # -- instances ---------------------------------------------------------------------

    async def register(self, instance: Instance, *, now: float, exclusive: bool) -> Instance | None:
        if exclusive:
            for other in self._instances.values():
                if other.id != instance.id and other.role == instance.role and other.live(now):
                    return other
        self._instances[instance.id] = instance
        return None

    async def renew(self, instance_id: str, *, lease_until: float) -> bool:
        instance = self._instances.get(instance_id)
        if instance is None:
            return False
        self._instances[instance_id] = replace(instance, lease_until=lease_until)
        return True

    async def unregister(self, instance_id: str) -> None:
        self._instances.pop(instance_id, None)

    async def instances(self) -> list[Instance]:
        return sorted(self._instances.values(), key=lambda i: i.started_at)

    def _owned(self, owner: str, now: float) -> bool:
        instance = self._instances.get(owner)
        return instance is not None and instance.live(now)

    # -- the whole ---------------------------------------------------------------------

    async def counts(self) -> StoreCounts:
        return StoreCounts(
            journaled=len(self._journal),
            open_messages=len(self._open),
            instances=len(self._instances),
        )

    async def aclose(self) -> None:
        return None
