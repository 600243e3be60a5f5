"""Durable state: history, dedup and open messages, in memory and in SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.conversation.store import Exchange, MemoryStore, OpenMessage, SqliteStore, Store


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    async with SqliteStore(tmp_path / "state.sqlite3") as sqlite:
        yield sqlite


def exchange(n: int, at: float) -> Exchange:
    return Exchange(user=f"q{n}", assistant=f"a{n}", at=at)


@pytest.mark.anyio
async def test_history_keeps_newest_turns_in_order(store: Store) -> None:
    """History returns the newest `limit` exchanges, oldest first."""
    for n in range(5):
        await store.remember("c1", exchange(n, at=100.0 + n), limit=3)
    got = await store.history("c1", now=105.0, ttl=60.0, limit=10)
    assert [e.user for e in got] == ["q2", "q3", "q4"]
    assert await store.history("other", now=105.0, ttl=60.0, limit=10) == []


@pytest.mark.anyio
async def test_history_forgets_exchanges_past_ttl(store: Store) -> None:
    """Exchanges older than the TTL are not part of the context."""
    await store.remember("c1", exchange(0, at=0.0), limit=10)
    await store.remember("c1", exchange(1, at=100.0), limit=10)
    got = await store.history("c1", now=150.0, ttl=60.0, limit=10)
    assert [e.user for e in got] == ["q1"]


@pytest.mark.anyio
async def test_claim_refuses_a_seen_delivery_id(store: Store) -> None:
    """A frame id or msgId seen before (within the TTL) is refused; new ones pass."""
    assert await store.claim(["frame-1", "msg-1"], now=0.0, ttl=600.0)
    assert not await store.claim(["frame-2", "msg-1"], now=1.0, ttl=600.0)
    assert not await store.claim(["frame-1", "msg-9"], now=2.0, ttl=600.0)
    assert await store.claim(["frame-3", "msg-3"], now=3.0, ttl=600.0)


@pytest.mark.anyio
async def test_claim_forgets_after_ttl(store: Store) -> None:
    """Dedup entries expire so the table cannot grow without bound."""
    assert await store.claim(["m"], now=0.0, ttl=10.0)
    assert await store.claim(["m"], now=11.0, ttl=10.0)


@pytest.mark.anyio
async def test_open_messages_are_listed_until_closed(store: Store) -> None:
    """Opened messages are listed (oldest first) until closed."""
    first = OpenMessage("m1", "helpdesk", "ai_stepwise", {"token": "ct_1"}, "partial", 1.0)
    second = OpenMessage("m2", "helpdesk", "ai_card", {"outTrackId": "t2"}, "", 2.0)
    await store.opened(second)
    await store.opened(first)
    assert [m.message_id for m in await store.open_messages()] == ["m1", "m2"]
    await store.closed("m1")
    await store.closed("unknown")
    assert await store.open_messages() == [second]


@pytest.mark.anyio
async def test_sqlite_state_survives_reopening(tmp_path: Path) -> None:
    """What one process wrote, the next start-up reads back."""
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as first:
        await first.remember("c", exchange(1, at=10.0), limit=5)
        await first.claim(["msg-1"], now=10.0, ttl=600.0)
        await first.opened(OpenMessage("m", "a", "ai_reply", {"token": "ct"}, "半句", 10.0))
    async with SqliteStore(path) as second:
        assert [e.user for e in await second.history("c", now=11.0, ttl=60.0, limit=5)] == ["q1"]
        assert not await second.claim(["msg-1"], now=11.0, ttl=600.0)
        (message,) = await second.open_messages()
        assert (message.handle, message.text) == ({"token": "ct"}, "半句")
