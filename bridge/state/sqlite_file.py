"""The SQLite file under ``SqliteStore``: creating it private, opening it, its errors in words.

``connect`` creates the file with mode 0600 (and tightens an existing one), opens it in
WAL mode with ``secure_delete``, creates the tables and adds the columns a file from an
older release lacks. ``state_error`` turns any ``sqlite3`` failure into a ``StateError``
that names the file and says what is wrong: not a database, corrupt, locked, read-only,
cannot be opened, disk full.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat

from bridge.errors import StateError

__all__ = ["connect", "state_error"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    key TEXT NOT NULL, at REAL NOT NULL, user TEXT NOT NULL, assistant TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_key_at ON exchanges (key, at);
CREATE INDEX IF NOT EXISTS exchanges_at ON exchanges (at);
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_at ON seen (at);
CREATE TABLE IF NOT EXISTS open_messages (
    message_id TEXT PRIMARY KEY, assistant TEXT NOT NULL, surface TEXT NOT NULL,
    handle TEXT NOT NULL, text TEXT NOT NULL, opened_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, turn_id TEXT NOT NULL UNIQUE,
    lane TEXT NOT NULL, payload TEXT NOT NULL, accepted_at REAL NOT NULL,
    owner TEXT NOT NULL, delivery_keys TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_lane ON journal (lane);
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, role TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
    started_at REAL NOT NULL, lease_until REAL NOT NULL
);
"""

# Columns added since the first release; a file written by it gains them on open.
_ADDED_COLUMNS = (
    ("seen", "turn_id", "TEXT"),
    ("open_messages", "owner", "TEXT NOT NULL DEFAULT ''"),
)


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating if needed) the state file at ``path``, ready for ``SqliteStore``.

    A writer waits up to ``busy_timeout`` seconds for another process's write.
    """
    try:
        _create_private(path)
    except OSError as exc:
        message = f"cannot create the file: {exc.strerror}"
        raise StateError(message, location=path) from exc
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(
            path,
            timeout=busy_timeout,
            check_same_thread=False,
            isolation_level=None,
        )
        db.execute("PRAGMA journal_mode=WAL")
        # Every commit survives a crash of the process (what the journals are for)
        # without an fsync per streamed update.
        db.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows (closed messages' tokens, finished Turns' webhook URLs) are
        # zeroed, not left in free pages; and the WAL is truncated when a checkpoint
        # resets it, so old pages do not linger there either.
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA journal_size_limit=0")
        with db:
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            _add_columns(db)
            db.execute("CREATE INDEX IF NOT EXISTS seen_turn ON seen (turn_id)")
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise state_error(path, exc, busy_timeout) from exc
    return db


def _create_private(path: str) -> None:
    """Create the file readable by its owner only; tighten an existing one that is not."""
    if path == ":memory:":
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, mode & 0o700)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path + suffix, 0o600)


def _add_columns(db: sqlite3.Connection) -> None:
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def state_error(path: str, exc: sqlite3.Error, busy_timeout: float) -> StateError:
    """``exc`` in words an operator can act on, naming the file."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_NOTADB"):
        message = "is not a SQLite database (another file, or corrupt)"
    elif name.startswith("SQLITE_CORRUPT"):
        message = "is corrupt; move it aside to start with empty state"
    elif name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        message = f"is locked by another process (waited {busy_timeout:g} s)"
    elif name.startswith("SQLITE_READONLY"):
        message = "is read-only for this user"
    elif name.startswith("SQLITE_CANTOPEN"):
        message = "cannot be opened (does its folder exist and is it writable?)"
    elif name.startswith("SQLITE_FULL"):
        message = "cannot grow: the disk is full"
    else:
        message = f"failed: {exc}"
    return StateError(message, location=path)
