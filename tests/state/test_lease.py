"""Membership: this process as an owner; who is gone; one `bridge serve` per SQLite file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.state import Instance, MemoryStore, Role, SqliteStore
from bridge.state.lease import Membership, Occupied, pid_alive


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    instance_id: str, *, host: str = "here", pid: int = 11, lease_until: float = 2000.0
) -> Instance:
    return Instance(instance_id, Role.SERVE, pid, host, 1.0, lease_until)


def member(store: MemoryStore | SqliteStore, clock: Clock, **kwargs: object) -> Membership:
    options: dict[str, object] = {
        "role": Role.SERVE,
        "lease": 30.0,
        "host": "here",
        "pid": 10,
        "alive": lambda pid: pid in (10, 11),
        **kwargs,
    }
    return Membership(store, clock=clock, **options)  # type: ignore[arg-type]


def test_pid_alive_knows_this_process() -> None:
    """Signal 0 finds this very process."""
    assert pid_alive(os.getpid())


@pytest.mark.parametrize(
    ("other", "gone"),
    [
        (record("live"), False),
        (record("lapsed", lease_until=999.0), True),
        (record("dead-pid", pid=12), True),
        (record("my-pid", pid=10), True),
        (record("elsewhere", host="there", pid=12), False),
    ],
    ids=["live", "lapsed", "dead-pid-here", "my-pid-reused", "other-host"],
)
def test_who_is_gone(other: Instance, gone: bool) -> None:
    """Gone: a lapsed lease anywhere; here also a dead pid, or this process's pid."""
    membership = member(MemoryStore(), Clock())
    assert membership.gone(other, 1000.0) is gone


@pytest.mark.anyio
async def test_entering_registers_and_leaving_unregisters() -> None:
    """The record exists while the block runs, with a lease; it is gone after a clean exit."""
    store, clock = MemoryStore(), Clock()
    async with member(store, clock) as membership:
        (mine,) = await store.instances()
        assert (mine.id, mine.role, mine.pid, mine.host) == (membership.id, Role.SERVE, 10, "here")
        assert mine.lease_until == 1030.0
        clock.now = 1010.0
        await membership.beat()
        assert (await store.instances())[0].lease_until == 1040.0
        assert membership.counts is not None
    assert await store.instances() == []


@pytest.mark.anyio
async def test_a_beat_after_being_swept_registers_again() -> None:
    """If another process removed this record (judged gone), the next beat puts it back."""
    store, clock = MemoryStore(), Clock()
    async with member(store, clock) as membership:
        await store.unregister(membership.id)
        await membership.beat()
        assert [i.id for i in await store.instances()] == [membership.id]


@pytest.mark.anyio
async def test_exclusive_entry_is_refused_by_a_live_serve(tmp_path: Path) -> None:
    """A second exclusive serve on one SQLite file raises Occupied naming the holder."""
    async with SqliteStore(tmp_path / "s.sqlite3") as store:
        clock = Clock()
        async with member(store, clock, exclusive=True, pid=11) as first:
            with pytest.raises(Occupied) as refused:
                async with member(store, clock, exclusive=True, pid=10):
                    pass  # pragma: no cover
            assert refused.value.holder.id == first.id
            assert [i.id for i in await store.instances()] == [first.id]


@pytest.mark.anyio
async def test_a_killed_predecessor_does_not_block_a_restart() -> None:
    """The record of a dead pid on this host is swept on entry: the restart is not refused."""
    store, clock = MemoryStore(), Clock()
    await store.register(record("killed", pid=12), now=clock(), exclusive=False)
    remote_send = Instance("remote", Role.SEND, 12, "there", 1.0, 2000.0)
    await store.register(remote_send, now=clock(), exclusive=False)
    async with member(store, clock, exclusive=True) as membership:
        ids = {i.id for i in await store.instances()}
    assert ids == {membership.id, "remote"}
