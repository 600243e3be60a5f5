"""The state-store interface: what bridge remembers, and the promises every backend keeps.

One protocol, several backends (``memory``, ``sqlite``, ``redis``: the last one shared by
several ``bridge serve`` instances). ``tests/state/test_contract.py`` runs the same suite
against each, so a backend is done when that suite passes for it.

Rules every operation follows, chosen so each can be one transaction in SQLite and one
Lua script (or a MULTI block) in Redis:

- each operation is **atomic**: another process sees all of it or none of it;
- no operation needs a join or a scan of a whole table except where it says so
  (``adopt_*`` and ``counts`` read every owner's work: they run at start-up and on a
  heartbeat, not per message);
- ordering is **arrival order**, which a backend keeps with a counter of its own (a
  SQLite rowid, a Redis ``INCR``), never by comparing clocks of different processes;
- time is always passed in (``now``), never read: tests move it, and processes on
  different hosts agree on what "expired" meant for each call;
- ownership is by **lease**: work recorded with an ``owner`` belongs to that
  ``Instance`` while its ``lease_until`` is in the future; work of an owner with no
  record, or a lapsed one, is ownerless and may be **adopted** by a live instance.

**Lanes.** A lane is one conversation's queue in the journal. All Turns of a lane have
one owner, the only instance that answers them, one at a time, in arrival order: the
lane's owner is whoever admitted its first Turn while it was empty; a Turn admitted
into a lane that has Turns joins their owner, whichever instance admitted it; and
adoption moves whole lanes. The owner learns of Turns another instance admitted into
its lane by asking ``next_turn`` after each answer; once the lane is empty it is
nobody's. So an instance's lease is also the lease of each of its lanes: when it dies,
its lanes wait for one adopter, and nobody answers them in parallel.
"""

from __future__ import annotations

from typing import Protocol

from bridge.state.records import (
    Exchange,
    Instance,
    JournalEntry,
    OpenMessage,
    StoreCounts,
    Verdict,
)

__all__ = ["Store"]


class Store(Protocol):
    """Durable state of a deployment: history, dedup, the Turn journal, open messages, owners."""

    @property
    def shared(self) -> bool:
        """True when several ``bridge serve`` instances may work from this store at once.

        SQLite and memory are for one instance (a second ``bridge serve`` on the same file
        is refused at start); Redis says True.
        """

    # -- history -------------------------------------------------------------------

    async def history(self, key: str, *, now: float, ttl: float, limit: int) -> list[Exchange]:
        """The newest ``limit`` exchanges of ``key`` younger than ``ttl`` seconds, oldest first."""

    async def remember(
        self, key: str, exchange: Exchange, *, limit: int, now: float, ttl: float
    ) -> None:
        """Append an exchange, keep the newest ``limit``, delete those older than ``ttl``.

        Expired exchanges are deleted, not only skipped on read: history is personal data
        and must not outlive ``[memory] ttl`` on disk.
        """

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
        """Claim ``entry``'s delivery keys and journal it, atomically, or record nothing.

        Checked in this order: a delivery key claimed within ``dedup_ttl`` seconds, or
        belonging to a Turn still journaled (however old), makes it ``DUPLICATE``;
        ``max_per_lane`` entries already in its lane make it ``LANE_FULL``;
        ``max_total`` entries in the journal make it ``FULL``. Claims older than
        ``dedup_ttl`` whose Turn is finished are forgotten on the way.

        The entry is recorded with its lane's owner when the lane has Turns (see
        "Lanes"), with ``entry.owner`` when it is empty.
        """

    async def finish(self, turn_id: str, *, now: float) -> None:
        """Delete a journaled Turn (answered, or failed with a message to the user).

        Its delivery keys stay claimed for ``dedup_ttl`` from ``now``: a late redelivery
        of an answered Turn is still a duplicate. Unknown ids are ignored.
        """

    async def journaled(self, *, owner: str | None = None) -> list[JournalEntry]:
        """Journaled Turns (of ``owner``, or everyone's), in arrival order."""

    async def adopt_turns(self, owner: str, *, now: float) -> list[JournalEntry]:
        """Make ``owner`` the owner of every ownerless journaled Turn; returns them.

        Ownerless: its owner has no ``Instance`` record live at ``now``. Since a lane's
        Turns share their owner, whole lanes move. Returned in arrival order, with the
        new owner. Two instances adopting at once never get the same entry.
        """

    async def next_turn(self, lane: str, owner: str) -> JournalEntry | None:
        """The oldest journaled Turn of ``lane`` if ``owner`` owns the lane, else None.

        The lane's owner calls it after each answer (and ``finish``): it returns the
        Turns other instances admitted into the lane too. None: the lane is empty, or
        another instance's (which answers it).
        """

    async def lanes(self, owner: str) -> list[str]:
        """The lanes ``owner`` owns (a safety net: each should have a worker running)."""

    # -- open messages -----------------------------------------------------------------

    async def opened(self, message: OpenMessage) -> None:
        """Record an opened message (or its latest text)."""

    async def closed(self, message_id: str) -> None:
        """Delete a message's record once it is closed (its handle is a credential)."""

    async def open_messages(self) -> list[OpenMessage]:
        """Every message recorded as opened and never closed, oldest first."""

    async def adopt_messages(self, owner: str, *, now: float) -> list[OpenMessage]:
        """Make ``owner`` the owner of every ownerless open message; returns them, oldest first."""

    # -- instances ---------------------------------------------------------------------

    async def register(self, instance: Instance, *, now: float, exclusive: bool) -> Instance | None:
        """Record ``instance``; returns None, or the live holder that prevented it.

        With ``exclusive``, an instance of the same role live at ``now`` (another one)
        prevents it: nothing is recorded and that instance is returned.
        """

    async def renew(self, instance_id: str, *, lease_until: float) -> bool:
        """Push an instance's lease forward; False when its record is gone."""

    async def unregister(self, instance_id: str) -> None:
        """Delete an instance's record (clean exit, or found dead); its work becomes ownerless."""

    async def instances(self) -> list[Instance]:
        """Every instance record, live or lapsed, oldest first."""

    # -- the whole ---------------------------------------------------------------------

    async def counts(self) -> StoreCounts:
        """How many Turns are journaled, messages open and instances recorded."""

    async def aclose(self) -> None:
        """Release the store (idempotent)."""
