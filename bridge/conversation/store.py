"""Durable state of a deployment: conversation history, seen deliveries, open messages.

Three things must survive a restart of ``bridge serve``:

- **history**: the exchanges of each conversation, so the next turn has context;
- **seen deliveries**: frame ids and ``msgId``s already accepted, so a redelivery after a
  reconnect or a restart never produces a second answer;
- **open messages**: every DingTalk message that was opened and not yet closed, with
  what is needed to close it, so that after a crash or kill the next start-up closes
  them instead of leaving users looking at "思考中" forever.

``MemoryStore`` keeps it in dicts (tests, ``bridge dev``); ``SqliteStore`` in one SQLite
file (the default for ``bridge serve``). Both implement ``Store``. SQLite work runs in a
worker thread, one statement at a time, so the event loop never blocks on the disk.
"""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One question and its answer in a conversation."""

    user: str
    assistant: str
    at: float


@dataclass(frozen=True, slots=True)
class OpenMessage:
    """A message opened in DingTalk and not yet closed, with what it takes to close it."""

    message_id: str
    assistant: str
    surface: str
    handle: dict[str, Any]
    text: str
    opened_at: float


class Store(Protocol):
    """What the pipeline needs to remember."""

    async def history(self, key: str, *, now: float, ttl: float, limit: int) -> list[Exchange]:
        """The newest ``limit`` exchanges younger than ``ttl`` seconds, oldest first."""

    async def remember(self, key: str, exchange: Exchange, *, limit: int) -> None:
        """Append an exchange, keeping only the newest ``limit``."""

    async def claim(self, delivery_ids: list[str], *, now: float, ttl: float) -> bool:
        """Mark deliveries seen; False when any of them was seen within ``ttl`` seconds."""

    async def opened(self, message: OpenMessage) -> None:
        """Record an opened message (or its latest text)."""

    async def closed(self, message_id: str) -> None:
        """Forget a message once it is closed."""

    async def open_messages(self) -> list[OpenMessage]:
        """Messages recorded as opened and never closed."""

    async def aclose(self) -> None:
        """Release the store (idempotent)."""


class MemoryStore:
    """``Store`` in process memory: nothing survives the process."""

    def __init__(self) -> None:
        self._history: dict[str, list[Exchange]] = {}
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._open: dict[str, OpenMessage] = {}

    async def history(self, key: str, *, now: float, ttl: float, limit: int) -> list[Exchange]:
        fresh = [e for e in self._history.get(key, []) if now - e.at <= ttl]
        return fresh[-limit:] if limit else []

    async def remember(self, key: str, exchange: Exchange, *, limit: int) -> None:
        kept = [*self._history.get(key, []), exchange]
        self._history[key] = kept[-limit:] if limit else []

    async def claim(self, delivery_ids: list[str], *, now: float, ttl: float) -> bool:
        while self._seen and next(iter(self._seen.values())) < now - ttl:
            self._seen.popitem(last=False)
        if any(i in self._seen for i in delivery_ids):
            return False
        for delivery_id in delivery_ids:
            self._seen[delivery_id] = now
        return True

    async def opened(self, message: OpenMessage) -> None:
        self._open[message.message_id] = message

    async def closed(self, message_id: str) -> None:
        self._open.pop(message_id, None)

    async def open_messages(self) -> list[OpenMessage]:
        return sorted(self._open.values(), key=lambda m: m.opened_at)

    async def aclose(self) -> None:
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    key TEXT NOT NULL, at REAL NOT NULL, user TEXT NOT NULL, assistant TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_key_at ON exchanges (key, at);
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_at ON seen (at);
CREATE TABLE IF NOT EXISTS open_messages (
    message_id TEXT PRIMARY KEY, assistant TEXT NOT NULL, surface TEXT NOT NULL,
    handle TEXT NOT NULL, text TEXT NOT NULL, opened_at REAL NOT NULL
);
"""


class SqliteStore:
    """``Store`` in one SQLite file; use as ``async with SqliteStore(path) as store``."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._db: sqlite3.Connection | None = None
        # One statement at a time: sqlite3 connections are not for concurrent threads.
        self._limiter = anyio.CapacityLimiter(1)

    async def __aenter__(self) -> SqliteStore:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # Every commit survives a crash of the process (what the journal of open
            # messages is for) without an fsync per streamed update.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            return db

        self._db = await anyio.to_thread.run_sync(connect, limiter=self._limiter)
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
        return await anyio.to_thread.run_sync(work, db, limiter=self._limiter)

    async def history(self, key: str, *, now: float, ttl: float, limit: int) -> list[Exchange]:
        def work(db: sqlite3.Connection) -> list[Exchange]:
            rows = db.execute(
                "SELECT user, assistant, at FROM exchanges WHERE key = ? AND at >= ?"
                " ORDER BY at DESC LIMIT ?",
                (key, now - ttl, limit),
            ).fetchall()
            return [Exchange(user=u, assistant=a, at=at) for u, a, at in reversed(rows)]

        return await self._run(work)

    async def remember(self, key: str, exchange: Exchange, *, limit: int) -> None:
        def work(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.execute(
                    "INSERT INTO exchanges (key, at, user, assistant) VALUES (?, ?, ?, ?)",
                    (key, exchange.at, exchange.user, exchange.assistant),
                )
                db.execute(
                    "DELETE FROM exchanges WHERE key = ? AND rowid NOT IN ("
                    " SELECT rowid FROM exchanges WHERE key = ? ORDER BY at DESC LIMIT ?)",
                    (key, key, limit),
                )

        await self._run(work)

    async def claim(self, delivery_ids: list[str], *, now: float, ttl: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM seen WHERE at < ?", (now - ttl,))
                marks = ",".join("?" * len(delivery_ids))
                hit = db.execute(
                    f"SELECT 1 FROM seen WHERE id IN ({marks}) LIMIT 1", delivery_ids
                ).fetchone()
                if hit:
                    return False
                db.executemany(
                    "INSERT INTO seen (id, at) VALUES (?, ?)", [(i, now) for i in delivery_ids]
                )
                return True

        return await self._run(work)

    async def opened(self, message: OpenMessage) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO open_messages"
                " (message_id, assistant, surface, handle, text, opened_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    message.message_id,
                    message.assistant,
                    message.surface,
                    json.dumps(message.handle, ensure_ascii=False),
                    message.text,
                    message.opened_at,
                ),
            )

        await self._run(work)

    async def closed(self, message_id: str) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM open_messages WHERE message_id = ?", (message_id,))
        )

    async def open_messages(self) -> list[OpenMessage]:
        def work(db: sqlite3.Connection) -> list[OpenMessage]:
            rows = db.execute(
                "SELECT message_id, assistant, surface, handle, text, opened_at"
                " FROM open_messages ORDER BY opened_at"
            ).fetchall()
            return [
                OpenMessage(
                    message_id=m, assistant=a, surface=s, handle=json.loads(h), text=t, opened_at=o
                )
                for m, a, s, h, t, o in rows
            ]

        return await self._run(work)
