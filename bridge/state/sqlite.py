"""``SqliteStore``: the state store in one SQLite file, the default of ``bridge serve``.

One file holds history, delivery claims, the Turn journal, open messages and instance
leases (``bridge.state.base`` says what each operation promises). Several processes may
open it at once (a ``bridge serve`` and a ``bridge send`` with the same config): WAL
mode lets readers run beside one writer, every multi-step operation is one
``BEGIN IMMEDIATE`` transaction, and a writer waits up to ``busy_timeout`` for another.
Only one ``bridge serve`` may use a file (``shared`` is False). A lane's owner is the
``owner`` of its Turns' rows, which ``admit`` and ``adopt_turns`` keep equal.

Work runs in a worker thread, one statement at a time, so the event loop never blocks
on the disk.

The file holds credentials while a message is open or a Turn is waiting (tokens,
webhook URLs), so: it is created with mode 0600 (SQLite gives its ``-wal`` and ``-shm``
the file's mode); rows are deleted as soon as their message is closed or their Turn
finished, with ``secure_delete`` so the freed pages are zeroed; and the WAL is truncated
when a checkpoint resets it (old pages linger there only until the next checkpoint).

Any ``sqlite3`` failure becomes a ``StateError`` naming the file and saying what is
wrong in words (``sqlite_file``, which also holds the schema and opens the file).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from bridge.state.records import (
    Exchange,
    Instance,
    JournalEntry,
    OpenMessage,
    Role,
    StoreCounts,
    Verdict,
)
from bridge.state.sqlite_file import connect, state_error

__all__ = ["SqliteStore"]

T = TypeVar("T")

# Owners whose lease runs at ?: their work is theirs; anything else is ownerless.
_LIVE = "SELECT id FROM instances WHERE lease_until > ?"


class SqliteStore:
    """``Store`` in one SQLite file; use as ``async with SqliteStore(path) as store``."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self._path = str(path)
        self._busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None
        # One statement at a time: sqlite3 connections are not for concurrent threads.
        self._limiter = anyio.CapacityLimiter(1)

    @property
    def shared(self) -> bool:
        return False

    async def __aenter__(self) -> SqliteStore:
        self._db = await anyio.to_thread.run_sync(
            connect, self._path, self._busy_timeout, limiter=self._limiter
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await anyio.to_thread.run_sync(db.close, limiter=self._limiter)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise RuntimeError("SqliteStore used outside its 'async with' block")

        def guarded(db: sqlite3.Connection) -> T:
            try:
                return work(db)
            except sqlite3.Error as exc:
                raise state_error(self._path, exc, self._busy_timeout) from exc

        return await anyio.to_thread.run_sync(guarded, db, limiter=self._limiter)

    # -- history -------------------------------------------------------------------

    async def history(self, key: str, *, now: float, ttl: float, limit: int) -> list[Exchange]:
        def work(db: sqlite3.Connection) -> list[Exchange]:
            rows = db.execute(
                "SELECT user, assistant, at FROM exchanges WHERE key = ? AND at >= ?"
                " ORDER BY at DESC, rowid DESC LIMIT ?",
                (key, now - ttl, limit),
            ).fetchall()
            return [Exchange(user=u, assistant=a, at=at) for u, a, at in reversed(rows)]

        return await self._run(work)

    async def remember(
        self, key: str, exchange: Exchange, *, limit: int, now: float, ttl: float
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM exchanges WHERE at < ?", (now - ttl,))
                db.execute(
                    "INSERT INTO exchanges (key, at, user, assistant) VALUES (?, ?, ?, ?)",
                    (key, exchange.at, exchange.user, exchange.assistant),
                )
                db.execute(
                    "DELETE FROM exchanges WHERE key = ? AND rowid NOT IN ("
                    " SELECT rowid FROM exchanges WHERE key = ?"
                    " ORDER BY at DESC, rowid DESC LIMIT ?)",
                    (key, key, limit),
                )

        await self._run(work)

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
        keys = list(entry.delivery_keys)

        def work(db: sqlite3.Connection) -> Verdict:
            with db:
                db.execute("BEGIN IMMEDIATE")
                # A claim outlives dedup_ttl while its Turn waits: a redelivery of a
                # Turn not yet answered must never become a second Turn.
                db.execute(
                    "DELETE FROM seen WHERE at < ?"
                    " AND (turn_id IS NULL OR turn_id NOT IN (SELECT turn_id FROM journal))",
                    (now - dedup_ttl,),
                )
                if keys:
                    marks = ",".join("?" * len(keys))
                    hit = db.execute(f"SELECT 1 FROM seen WHERE id IN ({marks}) LIMIT 1", keys)
                    if hit.fetchone():
                        return Verdict.DUPLICATE
                (in_lane,) = db.execute(
                    "SELECT COUNT(*) FROM journal WHERE lane = ?", (entry.lane,)
                ).fetchone()
                if in_lane >= max_per_lane:
                    return Verdict.LANE_FULL
                (total,) = db.execute("SELECT COUNT(*) FROM journal").fetchone()
                if total >= max_total:
                    return Verdict.FULL
                # A lane's Turns share one owner: a Turn joins the Turns already waiting.
                first = db.execute(
                    "SELECT owner FROM journal WHERE lane = ? ORDER BY seq LIMIT 1", (entry.lane,)
                ).fetchone()
                owner = entry.owner if first is None else first[0]
                db.executemany(
                    "INSERT OR REPLACE INTO seen (id, at, turn_id) VALUES (?, ?, ?)",
                    [(key, now, entry.turn_id) for key in keys],
                )
                db.execute(
                    "INSERT INTO journal"
                    " (turn_id, lane, payload, accepted_at, owner, delivery_keys)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        entry.turn_id,
                        entry.lane,
                        entry.payload,
                        entry.accepted_at,
                        owner,
                        json.dumps(keys),
                    ),
                )
                return Verdict.ADMITTED

        return await self._run(work)

    async def finish(self, turn_id: str, *, now: float) -> None:
        def work(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.execute("UPDATE seen SET at = ? WHERE turn_id = ?", (now, turn_id))
                db.execute("DELETE FROM journal WHERE turn_id = ?", (turn_id,))

        await self._run(work)

    async def journaled(self, *, owner: str | None = None) -> list[JournalEntry]:
        def work(db: sqlite3.Connection) -> list[JournalEntry]:
            query = f"SELECT {_ENTRY} FROM journal"
            if owner is None:
                return [_entry(row) for row in db.execute(f"{query} ORDER BY seq")]
            rows = db.execute(f"{query} WHERE owner = ? ORDER BY seq", (owner,))
            return [_entry(row) for row in rows]

        return await self._run(work)

    async def adopt_turns(self, owner: str, *, now: float) -> list[JournalEntry]:
        def work(db: sqlite3.Connection) -> list[JournalEntry]:
            with db:
                db.execute("BEGIN IMMEDIATE")
                rows = db.execute(
                    f"SELECT {_ENTRY} FROM journal WHERE owner NOT IN ({_LIVE}) ORDER BY seq",
                    (now,),
                ).fetchall()
                db.executemany(
                    "UPDATE journal SET owner = ? WHERE turn_id = ?",
                    [(owner, row[0]) for row in rows],
                )
            return [_entry((*row[:4], owner, row[5])) for row in rows]

        return await self._run(work)

    async def next_turn(self, lane: str, owner: str) -> JournalEntry | None:
        def work(db: sqlite3.Connection) -> JournalEntry | None:
            row = db.execute(
                f"SELECT {_ENTRY} FROM journal WHERE lane = ? ORDER BY seq LIMIT 1", (lane,)
            ).fetchone()
            return _entry(row) if row is not None and row[4] == owner else None

        return await self._run(work)

    async def lanes(self, owner: str) -> list[str]:
        query = "SELECT lane FROM journal WHERE owner = ? GROUP BY lane ORDER BY MIN(seq)"
        return await self._run(lambda db: [str(r[0]) for r in db.execute(query, (owner,))])

    # -- open messages -----------------------------------------------------------------

    async def opened(self, message: OpenMessage) -> None:
        def work(db: sqlite3.Connection) -> None:
            # An upsert, not INSERT OR REPLACE: the row keeps its rowid, so messages
            # opened in the same instant stay in the order they opened.
            db.execute(
                "INSERT INTO open_messages"
                " (message_id, assistant, surface, handle, text, opened_at, owner)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET"
                " assistant = excluded.assistant, surface = excluded.surface,"
                " handle = excluded.handle, text = excluded.text,"
                " opened_at = excluded.opened_at, owner = excluded.owner",
                (
                    message.message_id,
                    message.assistant,
                    message.surface,
                    json.dumps(message.handle),
                    message.text,
                    message.opened_at,
                    message.owner,
                ),
            )

        await self._run(work)

    async def closed(self, message_id: str) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM open_messages WHERE message_id = ?", (message_id,))
        )

    async def open_messages(self) -> list[OpenMessage]:
        def work(db: sqlite3.Connection) -> list[OpenMessage]:
            rows = db.execute(f"SELECT {_MESSAGE} FROM open_messages ORDER BY opened_at, rowid")
            return [_message(row) for row in rows]

        return await self._run(work)

    async def adopt_messages(self, owner: str, *, now: float) -> list[OpenMessage]:
        def work(db: sqlite3.Connection) -> list[OpenMessage]:
            with db:
                db.execute("BEGIN IMMEDIATE")
                rows = db.execute(
                    f"SELECT {_MESSAGE} FROM open_messages WHERE owner NOT IN ({_LIVE})"
                    " ORDER BY opened_at, rowid",
                    (now,),
                ).fetchall()
                db.executemany(
                    "UPDATE open_messages SET owner = ? WHERE message_id = ?",
                    [(owner, row[0]) for row in rows],
                )
            return [_message((*row[:6], owner)) for row in rows]

        return await self._run(work)

    # -- instances ---------------------------------------------------------------------

    async def register(self, instance: Instance, *, now: float, exclusive: bool) -> Instance | None:
        def work(db: sqlite3.Connection) -> Instance | None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                if exclusive:
                    holder = db.execute(
                        f"SELECT {_INSTANCE} FROM instances"
                        " WHERE role = ? AND id != ? AND lease_until > ?"
                        " ORDER BY started_at LIMIT 1",
                        (instance.role.value, instance.id, now),
                    ).fetchone()
                    if holder is not None:
                        return _instance(holder)
                db.execute(
                    "INSERT OR REPLACE INTO instances"
                    " (id, role, pid, host, started_at, lease_until) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        instance.id,
                        instance.role.value,
                        instance.pid,
                        instance.host,
                        instance.started_at,
                        instance.lease_until,
                    ),
                )
                return None

        return await self._run(work)

    async def renew(self, instance_id: str, *, lease_until: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            changed = db.execute(
                "UPDATE instances SET lease_until = ? WHERE id = ?", (lease_until, instance_id)
            )
            return changed.rowcount > 0

        return await self._run(work)

    async def unregister(self, instance_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM instances WHERE id = ?", (instance_id,)))

    async def instances(self) -> list[Instance]:
        def work(db: sqlite3.Connection) -> list[Instance]:
            rows = db.execute(f"SELECT {_INSTANCE} FROM instances ORDER BY started_at, rowid")
            return [_instance(row) for row in rows]

        return await self._run(work)

    # -- the whole ---------------------------------------------------------------------

    async def counts(self) -> StoreCounts:
        def work(db: sqlite3.Connection) -> StoreCounts:
            (journaled,) = db.execute("SELECT COUNT(*) FROM journal").fetchone()
            (opened,) = db.execute("SELECT COUNT(*) FROM open_messages").fetchone()
            (instances,) = db.execute("SELECT COUNT(*) FROM instances").fetchone()
            return StoreCounts(journaled=journaled, open_messages=opened, instances=instances)

        return await self._run(work)


_ENTRY = "turn_id, lane, payload, accepted_at, owner, delivery_keys"
_MESSAGE = "message_id, assistant, surface, handle, text, opened_at, owner"
_INSTANCE = "id, role, pid, host, started_at, lease_until"

Row = tuple[object, ...]


def _entry(row: Row) -> JournalEntry:
    turn_id, lane, payload, accepted_at, owner, keys = row
    return JournalEntry(
        turn_id=str(turn_id),
        lane=str(lane),
        payload=str(payload),
        accepted_at=float(accepted_at),  # type: ignore[arg-type]
        owner=str(owner),
        delivery_keys=tuple(json.loads(str(keys))),
    )


def _message(row: Row) -> OpenMessage:
    message_id, assistant, surface, handle, text, opened_at, owner = row
    return OpenMessage(
        message_id=str(message_id),
        assistant=str(assistant),
        surface=str(surface),
        handle=json.loads(str(handle)),
        text=str(text),
        opened_at=float(opened_at),  # type: ignore[arg-type]
        owner=str(owner),
    )


def _instance(row: Row) -> Instance:
    instance_id, role, pid, host, started_at, lease_until = row
    return Instance(
        id=str(instance_id),
        role=Role(str(role)),
        pid=int(pid),  # type: ignore[call-overload]
        host=str(host),
        started_at=float(started_at),  # type: ignore[arg-type]
        lease_until=float(lease_until),  # type: ignore[arg-type]
    )
