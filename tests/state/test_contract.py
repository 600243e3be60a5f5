"""The state-store contract: every backend passes the same tests, one per promise.

``BACKENDS`` lists how to open each backend; a new one is one more entry, and it is done
when this file passes for it. Redis runs on a real ``redis-server`` (the ``redis_url``
fixture: skipped without one, failed under CI). Times are logical (``now`` is passed
in), so no test waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bridge.state import (
    Exchange,
    Instance,
    JournalEntry,
    MemoryStore,
    OpenMessage,
    RedisStore,
    Role,
    SqliteStore,
    Store,
    StoreCounts,
    Verdict,
)

OpenBackend = Callable[[pytest.FixtureRequest, Path], AbstractAsyncContextManager[Store]]

BACKENDS: dict[str, OpenBackend] = {
    "memory": lambda request, tmp: MemoryStore(),
    "sqlite": lambda request, tmp: SqliteStore(tmp / "state.sqlite3"),
    "redis": lambda request, tmp: RedisStore(request.getfixturevalue("redis_url"), prefix="t:"),
}


@pytest.fixture(params=list(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with BACKENDS[request.param](request, tmp_path) as opened:
        yield opened


def exchange(n: int, at: float) -> Exchange:
    return Exchange(user=f"q{n}", assistant=f"a{n}", at=at)


def entry(
    turn_id: str, lane: str = "a/c1", *, keys: tuple[str, ...] = (), owner: str = "me"
) -> JournalEntry:
    return JournalEntry(
        turn_id=turn_id,
        lane=lane,
        payload=f'{{"turn": "{turn_id}", "url": "https://oapi.dingtalk.com/x?s=1"}}',
        accepted_at=10.0,
        owner=owner,
        delivery_keys=keys or (f"k-{turn_id}",),
    )


def instance(instance_id: str, *, role: Role = Role.SERVE, lease_until: float = 100.0) -> Instance:
    return Instance(
        id=instance_id, role=role, pid=4242, host="h", started_at=1.0, lease_until=lease_until
    )


async def admit(store: Store, e: JournalEntry, *, now: float = 10.0, **bounds: float) -> Verdict:
    limits = {"dedup_ttl": 600.0, "max_per_lane": 10, "max_total": 100, **bounds}
    return await store.admit(
        e,
        now=now,
        dedup_ttl=limits["dedup_ttl"],
        max_per_lane=int(limits["max_per_lane"]),
        max_total=int(limits["max_total"]),
    )


# ---------------------------------------------------------------- history


@pytest.mark.anyio
async def test_history_keeps_newest_turns_in_order(store: Store) -> None:
    """History returns the newest `limit` exchanges, oldest first."""
    for n in range(5):
        await store.remember("c1", exchange(n, at=100.0 + n), limit=3, now=100.0 + n, ttl=60.0)
    got = await store.history("c1", now=105.0, ttl=60.0, limit=10)
    assert [e.user for e in got] == ["q2", "q3", "q4"]
    assert await store.history("other", now=105.0, ttl=60.0, limit=10) == []


@pytest.mark.anyio
async def test_history_limit_on_read(store: Store) -> None:
    """A read asks for fewer than are kept: the newest ones, oldest first."""
    for n in range(4):
        await store.remember("c1", exchange(n, at=float(n)), limit=10, now=float(n), ttl=60.0)
    assert [e.user for e in await store.history("c1", now=4.0, ttl=60.0, limit=2)] == ["q2", "q3"]


@pytest.mark.anyio
async def test_history_skips_exchanges_past_ttl(store: Store) -> None:
    """Exchanges older than the TTL are not part of the context."""
    await store.remember("c1", exchange(0, at=0.0), limit=10, now=0.0, ttl=1000.0)
    await store.remember("c1", exchange(1, at=100.0), limit=10, now=100.0, ttl=1000.0)
    got = await store.history("c1", now=150.0, ttl=60.0, limit=10)
    assert [e.user for e in got] == ["q1"]


@pytest.mark.anyio
async def test_remember_deletes_exchanges_past_ttl(store: Store) -> None:
    """A write deletes its conversation's expired exchanges: a longer read TTL finds none."""
    await store.remember("c1", exchange(0, at=0.0), limit=10, now=0.0, ttl=60.0)
    await store.remember("c1", exchange(1, at=100.0), limit=10, now=100.0, ttl=60.0)
    got = await store.history("c1", now=100.0, ttl=10_000.0, limit=10)
    assert [e.user for e in got] == ["q1"]


# ---------------------------------------------------------------- admitting Turns


@pytest.mark.anyio
async def test_admit_journals_the_turn(store: Store) -> None:
    """An admitted Turn is journaled with everything it was given."""
    first = entry("t1", keys=("msg:1", "frame:a"))
    assert await admit(store, first) is Verdict.ADMITTED
    assert await store.journaled() == [first]


@pytest.mark.anyio
async def test_admit_refuses_any_claimed_delivery_key(store: Store) -> None:
    """A Turn sharing any delivery key with an earlier one is a duplicate; nothing recorded."""
    assert await admit(store, entry("t1", keys=("frame-1", "msg-1"))) is Verdict.ADMITTED
    assert await admit(store, entry("t2", keys=("frame-2", "msg-1"))) is Verdict.DUPLICATE
    assert await admit(store, entry("t3", keys=("frame-1", "msg-9"))) is Verdict.DUPLICATE
    assert [e.turn_id for e in await store.journaled()] == ["t1"]
    # t3 was refused whole: its other key, msg-9, was not claimed.
    assert await admit(store, entry("t4", keys=("msg-9",))) is Verdict.ADMITTED


@pytest.mark.anyio
async def test_admit_takes_a_key_named_twice(store: Store) -> None:
    """An entry naming one delivery key twice is admitted; the key is claimed."""
    assert await admit(store, entry("t1", keys=("m", "m"))) is Verdict.ADMITTED
    assert await admit(store, entry("t2", keys=("m",))) is Verdict.DUPLICATE


@pytest.mark.anyio
async def test_lane_bound_refuses_and_records_nothing(store: Store) -> None:
    """Past `max_per_lane` Turns in a conversation: LANE_FULL, its keys stay free."""
    for n in range(2):
        assert await admit(store, entry(f"t{n}"), max_per_lane=2) is Verdict.ADMITTED
    refused = entry("t2", keys=("msg-late",))
    assert await admit(store, refused, max_per_lane=2) is Verdict.LANE_FULL
    other_lane = entry("t3", lane="a/c2")
    assert await admit(store, other_lane, max_per_lane=2) is Verdict.ADMITTED
    await store.finish("t0", now=11.0)
    assert await admit(store, refused, max_per_lane=2) is Verdict.ADMITTED


@pytest.mark.anyio
async def test_total_bound_refuses_and_records_nothing(store: Store) -> None:
    """Past `max_total` Turns in the journal: FULL, and the Turn can come back later."""
    for n in range(3):
        verdict = await admit(store, entry(f"t{n}", lane=f"a/c{n}"), max_total=3)
        assert verdict is Verdict.ADMITTED
    refused = entry("t3", lane="a/c9")
    assert await admit(store, refused, max_total=3) is Verdict.FULL
    assert len(await store.journaled()) == 3
    await store.finish("t1", now=11.0)
    assert await admit(store, refused, max_total=3) is Verdict.ADMITTED


@pytest.mark.anyio
async def test_a_duplicate_is_a_duplicate_even_when_full(store: Store) -> None:
    """Dedup comes first: a redelivery is DUPLICATE, not BUSY, when the bounds are reached."""
    assert await admit(store, entry("t1", keys=("msg-1",)), max_total=1) is Verdict.ADMITTED
    again = entry("t2", keys=("msg-1",))
    assert await admit(store, again, max_total=1) is Verdict.DUPLICATE


@pytest.mark.anyio
async def test_claims_of_finished_turns_expire(store: Store) -> None:
    """Once its Turn is finished, a claim is forgotten `dedup_ttl` after the finish."""
    assert await admit(store, entry("t1", keys=("m",)), now=0.0, dedup_ttl=10.0)
    await store.finish("t1", now=5.0)
    again = entry("t2", keys=("m",))
    assert await admit(store, again, now=14.0, dedup_ttl=10.0) is Verdict.DUPLICATE
    assert await admit(store, again, now=16.0, dedup_ttl=10.0) is Verdict.ADMITTED


@pytest.mark.anyio
async def test_claims_of_waiting_turns_never_expire(store: Store) -> None:
    """A Turn still journaled keeps its claim however old: a redelivery is a duplicate."""
    assert await admit(store, entry("t1", keys=("m",)), now=0.0, dedup_ttl=10.0)
    again = entry("t2", keys=("m",))
    assert await admit(store, again, now=1000.0, dedup_ttl=10.0) is Verdict.DUPLICATE


@pytest.mark.anyio
async def test_finish_removes_the_turn_and_ignores_unknown_ids(store: Store) -> None:
    """`finish` deletes the entry (its payload holds credentials); an unknown id is a no-op."""
    await admit(store, entry("t1"))
    await admit(store, entry("t2"))
    await store.finish("t1", now=11.0)
    await store.finish("nope", now=11.0)
    assert [e.turn_id for e in await store.journaled()] == ["t2"]


@pytest.mark.anyio
async def test_journal_keeps_arrival_order_and_filters_by_owner(store: Store) -> None:
    """Entries come back in the order they were admitted, across lanes, per owner on request."""
    lanes = ["a/c2", "a/c1", "a/c2", "a/c3", "a/c4"]
    for n, lane in enumerate(lanes):
        await admit(store, entry(f"t{n}", lane, owner="me" if n % 2 else "other"))
    assert [e.turn_id for e in await store.journaled()] == [f"t{n}" for n in range(5)]
    assert [e.turn_id for e in await store.journaled(owner="me")] == ["t1", "t3"]


# ---------------------------------------------------------------- lanes


@pytest.mark.anyio
async def test_a_turn_joins_the_owner_of_its_lane(store: Store) -> None:
    """Admitted into a lane with Turns, a Turn takes their owner, whoever admitted it."""
    await admit(store, entry("t1", "a/c1", owner="first"))
    await admit(store, entry("t2", "a/c1", owner="second"))
    await admit(store, entry("t3", "a/c2", owner="second"))
    owners = [(e.turn_id, e.owner) for e in await store.journaled()]
    assert owners == [("t1", "first"), ("t2", "first"), ("t3", "second")]
    # Once the lane is empty it is nobody's: the next Turn's admitter owns it.
    await store.finish("t1", now=11.0)
    await store.finish("t2", now=11.0)
    await admit(store, entry("t4", "a/c1", owner="second"))
    assert [e.owner for e in await store.journaled(owner="second")] == ["second", "second"]


@pytest.mark.anyio
async def test_next_turn_is_the_lane_head_for_its_owner_only(store: Store) -> None:
    """The owner gets its lane's oldest Turn, whoever admitted it; anyone else gets None."""
    await admit(store, entry("t1", "a/c1", owner="A"))
    await admit(store, entry("t2", "a/c1", owner="B"))
    head = await store.next_turn("a/c1", "A")
    assert head is not None
    assert (head.turn_id, head.owner, head.payload) == ("t1", "A", entry("t1").payload)
    assert await store.next_turn("a/c1", "B") is None
    await store.finish("t1", now=11.0)
    second = await store.next_turn("a/c1", "A")
    assert second is not None
    assert (second.turn_id, second.owner) == ("t2", "A")
    await store.finish("t2", now=11.0)
    assert await store.next_turn("a/c1", "A") is None
    assert await store.next_turn("nowhere", "A") is None


@pytest.mark.anyio
async def test_lanes_lists_what_an_owner_holds(store: Store) -> None:
    """`lanes` names each lane of an owner once."""
    for n, (lane, owner) in enumerate([("a/c1", "A"), ("a/c2", "B"), ("a/c1", "B"), ("a/c3", "A")]):
        await admit(store, entry(f"t{n}", lane, owner=owner))
    assert sorted(await store.lanes("A")) == ["a/c1", "a/c3"]
    assert await store.lanes("B") == ["a/c2"]
    assert await store.lanes("C") == []


@pytest.mark.anyio
async def test_adopting_a_lane_moves_all_its_turns(store: Store) -> None:
    """A dead owner's lane, with Turns other instances admitted into it, moves whole."""
    await store.register(instance("B"), now=10.0, exclusive=False)
    await admit(store, entry("t1", "a/c1", owner="dead"))
    await admit(store, entry("t2", "a/c1", owner="B"))  # joins the dead owner's lane
    await admit(store, entry("t3", "a/c2", owner="B"))
    adopted = await store.adopt_turns("C", now=10.0)
    assert [(e.turn_id, e.owner) for e in adopted] == [("t1", "C"), ("t2", "C")]
    head = await store.next_turn("a/c1", "C")
    assert head is not None
    assert head.turn_id == "t1"
    assert await store.next_turn("a/c2", "B") is not None


# ---------------------------------------------------------------- ownership


@pytest.mark.anyio
async def test_adopt_turns_takes_only_ownerless_work_in_order(store: Store) -> None:
    """Turns of a lapsed or unknown owner are adopted, in order; a live owner's are not."""
    await store.register(instance("live", lease_until=100.0), now=50.0, exclusive=False)
    await store.register(instance("lapsed", lease_until=40.0), now=30.0, exclusive=False)
    await store.register(instance("me", lease_until=100.0), now=50.0, exclusive=False)
    owners = ["lapsed", "live", "", "vanished", "lapsed"]
    for n, owner in enumerate(owners):
        await admit(store, entry(f"t{n}", f"a/c{n}", owner=owner))
    adopted = await store.adopt_turns("me", now=50.0)
    assert [(e.turn_id, e.owner) for e in adopted] == [
        ("t0", "me"),
        ("t2", "me"),
        ("t3", "me"),
        ("t4", "me"),
    ]
    assert [e.turn_id for e in await store.journaled(owner="me")] == ["t0", "t2", "t3", "t4"]
    assert [e.turn_id for e in await store.journaled(owner="live")] == ["t1"]
    # Adopted work has a live owner now: nobody else gets it.
    assert await store.adopt_turns("someone", now=50.0) == []


@pytest.mark.anyio
async def test_open_messages_are_listed_until_closed(store: Store) -> None:
    """Opened messages are listed (oldest first, updates in place) until closed."""
    first = OpenMessage("m1", "helpdesk", "ai_stepwise", {"token": "ct_1"}, "partial", 1.0)
    second = OpenMessage("m2", "helpdesk", "ai_card", {"outTrackId": "t2"}, "", 2.0, "me")
    await store.opened(second)
    await store.opened(first)
    await store.opened(OpenMessage("m1", "helpdesk", "ai_stepwise", {"token": "ct_1"}, "more", 1.0))
    assert [(m.message_id, m.text) for m in await store.open_messages()] == [
        ("m1", "more"),
        ("m2", ""),
    ]
    await store.closed("m1")
    await store.closed("unknown")
    assert await store.open_messages() == [second]


@pytest.mark.anyio
async def test_adopt_messages_takes_only_ownerless_ones(store: Store) -> None:
    """Open messages of no live owner are adopted, oldest first; a live owner's stay put."""
    await store.register(instance("live"), now=10.0, exclusive=False)
    for n, owner in enumerate(["", "live", "dead"]):
        await store.opened(OpenMessage(f"m{n}", "a", "ai_reply", {"t": "x"}, "", float(n), owner))
    adopted = await store.adopt_messages("me", now=10.0)
    assert [(m.message_id, m.owner) for m in adopted] == [("m0", "me"), ("m2", "me")]
    owners = {m.message_id: m.owner for m in await store.open_messages()}
    assert owners == {"m0": "me", "m1": "live", "m2": "me"}


@pytest.mark.anyio
async def test_instances_register_renew_unregister(store: Store) -> None:
    """An instance is recorded, its lease renewed, and removed; renewing a removed one fails."""
    one = instance("one", lease_until=20.0)
    assert await store.register(one, now=10.0, exclusive=False) is None
    assert await store.renew("one", lease_until=50.0)
    (recorded,) = await store.instances()
    assert recorded.lease_until == 50.0
    assert (recorded.role, recorded.pid, recorded.host) == (Role.SERVE, 4242, "h")
    await store.unregister("one")
    await store.unregister("one")
    assert await store.instances() == []
    assert not await store.renew("one", lease_until=60.0)


@pytest.mark.anyio
async def test_exclusive_register_is_refused_by_a_live_holder(store: Store) -> None:
    """A second exclusive instance of a role is refused while the first's lease runs."""
    first = instance("first", lease_until=100.0)
    assert await store.register(first, now=10.0, exclusive=True) is None
    assert await store.register(instance("second"), now=20.0, exclusive=True) == first
    send = instance("send", role=Role.SEND)
    assert await store.register(send, now=20.0, exclusive=True) is None
    assert await store.register(instance("third"), now=20.0, exclusive=False) is None
    # The holder's lease lapsed: no longer in the way.
    assert await store.register(instance("fourth"), now=200.0, exclusive=True) is None


@pytest.mark.anyio
async def test_counts(store: Store) -> None:
    """Counts are the journal's, the open messages' and the instances' sizes."""
    assert await store.counts() == StoreCounts(journaled=0, open_messages=0, instances=0)
    await admit(store, entry("t1"))
    await admit(store, entry("t2", "a/c2"))
    await store.opened(OpenMessage("m", "a", "ai_reply", {"t": "x"}, "", 1.0))
    await store.register(instance("one"), now=1.0, exclusive=False)
    assert await store.counts() == StoreCounts(journaled=2, open_messages=1, instances=1)
