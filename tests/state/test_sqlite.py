"""What only the SQLite backend promises: the file itself (restarts, mode, erasure, errors)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from bridge.errors import ExitCode, StateError
from bridge.state import Exchange, JournalEntry, OpenMessage, SqliteStore, Verdict

SECRET = "ct-SECRET-0123456789abcdef"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.anyio
async def test_state_survives_reopening(tmp_path: Path) -> None:
    """What one process wrote (history, claims, journal, open messages), the next one reads."""
    path = tmp_path / "state.sqlite3"
    waiting = JournalEntry("t1", "a/c1", '{"x": 1}', 10.0, "gone", ("msg-1",))
    async with SqliteStore(path) as first:
        await first.remember("c", Exchange("q1", "a1", 10.0), limit=5, now=10.0, ttl=60.0)
        verdict = await first.admit(waiting, now=10.0, dedup_ttl=600, max_per_lane=5, max_total=5)
        assert verdict is Verdict.ADMITTED
        await first.opened(OpenMessage("m", "a", "ai_reply", {"token": "ct"}, "半句", 10.0))
    async with SqliteStore(path) as second:
        assert [e.user for e in await second.history("c", now=11.0, ttl=60.0, limit=5)] == ["q1"]
        assert await second.journaled() == [waiting]
        (message,) = await second.open_messages()
        assert (message.handle, message.text) == ({"token": "ct"}, "半句")


@pytest.mark.anyio
async def test_file_and_its_wal_are_private(tmp_path: Path) -> None:
    """The state file, its -wal and -shm are created readable by their owner only (0600)."""
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as store:
        await store.opened(OpenMessage("m", "a", "ai_reply", {"token": SECRET}, "", 1.0))
        assert mode(path) == 0o600
        assert mode(Path(f"{path}-wal")) == 0o600
        assert mode(Path(f"{path}-shm")) == 0o600


@pytest.mark.anyio
async def test_an_existing_readable_file_is_made_private(tmp_path: Path) -> None:
    """A state file others could read (0644) is tightened to 0600 when opened."""
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path):
        pass
    path.chmod(0o644)
    async with SqliteStore(path):
        assert mode(path) == 0o600


@pytest.mark.anyio
async def test_credentials_are_erased_once_closed_or_finished(tmp_path: Path) -> None:
    """A closed message's token and a finished Turn's webhook URL are gone from the file."""
    path = tmp_path / "state.sqlite3"
    payload = f'{{"webhook": "https://oapi.dingtalk.com/robot/send?session={SECRET}-hook"}}'
    async with SqliteStore(path) as store:
        await store.opened(OpenMessage("m", "a", "ai_reply", {"token": SECRET}, "", 1.0))
        entry = JournalEntry("t1", "a/c1", payload, 1.0, "me", ("msg-1",))
        await store.admit(entry, now=1.0, dedup_ttl=60, max_per_lane=5, max_total=5)
        await store.closed("m")
        await store.finish("t1", now=2.0)
    # Closing the last connection checkpoints the WAL into the file and removes it.
    assert holding(tmp_path, SECRET) == []


def holding(folder: Path, secret: str) -> list[str]:
    """The state files in ``folder`` whose bytes contain ``secret``."""
    files = [p for p in folder.iterdir() if p.name.startswith("state.sqlite3")]
    return [p.name for p in files if secret.encode() in p.read_bytes()]


@pytest.mark.anyio
async def test_write_deletes_expired_history_of_every_conversation(tmp_path: Path) -> None:
    """SQLite prunes all expired exchanges on a write, not only the written conversation's."""
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as store:
        await store.remember("old", Exchange("q0", "a0", 0.0), limit=5, now=0.0, ttl=60.0)
        await store.remember("new", Exchange("q1", "a1", 100.0), limit=5, now=100.0, ttl=60.0)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key FROM exchanges").fetchall() == [("new",)]


@pytest.mark.anyio
async def test_a_file_written_by_the_first_release_is_upgraded(tmp_path: Path) -> None:
    """An older state file (no owners, no claim→Turn link) opens; its open messages recover."""
    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE seen (id TEXT PRIMARY KEY, at REAL NOT NULL);
            CREATE TABLE open_messages (
                message_id TEXT PRIMARY KEY, assistant TEXT NOT NULL, surface TEXT NOT NULL,
                handle TEXT NOT NULL, text TEXT NOT NULL, opened_at REAL NOT NULL
            );
            INSERT INTO seen VALUES ('msg:old', 5.0);
            INSERT INTO open_messages VALUES ('m', 'a', 'ai_reply', '{"token": "ct"}', 'x', 1.0);
            """
        )
    async with SqliteStore(path) as store:
        (message,) = await store.adopt_messages("me", now=10.0)
        assert (message.message_id, message.owner) == ("m", "me")
        old = JournalEntry("t", "a/c", "{}", 10.0, "me", ("msg:old",))
        verdict = await store.admit(old, now=10.0, dedup_ttl=60, max_per_lane=5, max_total=5)
        assert verdict is Verdict.DUPLICATE


@pytest.mark.anyio
async def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    """Garbage in the state file: a StateError naming the file, exit code 5, no sqlite3 error."""
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(StateError) as caught:
        async with SqliteStore(path):
            pass
    assert str(caught.value) == f"state {path}: is not a SQLite database (another file, or corrupt)"
    assert caught.value.exit_code == ExitCode.STATE


@pytest.mark.anyio
async def test_a_locked_file_is_one_clear_error(tmp_path: Path) -> None:
    """A file another process holds locked: a StateError saying so, after the busy timeout."""
    path = tmp_path / "state.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StateError, match="is locked by another process"):
            async with SqliteStore(path, busy_timeout=0.05):
                pass
    finally:
        holder.close()


@pytest.mark.anyio
async def test_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    """A state path in a folder that does not exist: a StateError, not an OSError."""
    path = tmp_path / "missing" / "state.sqlite3"
    with pytest.raises(StateError, match="cannot create the file"):
        async with SqliteStore(path):
            pass
