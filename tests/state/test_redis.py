"""RedisStore beyond the contract: concurrent adopters, expiries, key prefix, outages, sizing.

Everything runs against a real ``redis-server`` (``tests.redis_server``): the session's
one, flushed per test, or one of the test's own when it is stopped and started again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from bridge.errors import StateError
from bridge.state import Exchange, Instance, JournalEntry, OpenMessage, RedisStore, Role, Verdict
from bridge.state.redis import shown_url
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio

PAYLOAD = '{"turn": "x", "url": "https://oapi.dingtalk.com/robot/sendBySession?session=abc"}'


def entry(turn_id: str, lane: str, owner: str, keys: tuple[str, ...] = ()) -> JournalEntry:
    return JournalEntry(turn_id, lane, PAYLOAD, 10.0, owner, keys or (f"k-{turn_id}",))


async def admit(store: RedisStore, e: JournalEntry, *, now: float = 10.0) -> Verdict:
    return await store.admit(e, now=now, dedup_ttl=600.0, max_per_lane=50, max_total=5000)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    async with RedisStore(redis_url, prefix="t:") as opened:
        yield opened


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def test_concurrent_adopters_never_share_a_lane_or_a_message(redis_url: str) -> None:
    """Eight instances adopting a dead one's 40 lanes and 40 messages at once split them."""
    async with RedisStore(redis_url, prefix="t:") as setup:
        for n in range(40):
            await admit(setup, entry(f"t{n}", f"a/c{n}", "dead"))
            await admit(setup, entry(f"u{n}", f"a/c{n}", "dead"))
            await setup.opened(
                OpenMessage(f"m{n}", "a", "ai_card", {"id": n}, "", float(n), "dead")
            )
        adopted: dict[str, list[str]] = {}

        async def adopter(name: str) -> None:
            async with RedisStore(redis_url, prefix="t:") as mine:
                await mine.register(
                    Instance(name, Role.SERVE, 1, "h", 1.0, 100.0), now=10.0, exclusive=False
                )
                turns = await mine.adopt_turns(name, now=10.0)
                messages = await mine.adopt_messages(name, now=10.0)
                adopted[name] = [e.turn_id for e in turns] + [m.message_id for m in messages]

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(adopter, f"i{n}")
        every = [item for items in adopted.values() for item in items]
        assert sorted(every) == sorted(
            [f"t{n}" for n in range(40)]
            + [f"u{n}" for n in range(40)]
            + [f"m{n}" for n in range(40)]
        )
        # A lane moved whole: both Turns of a conversation went to one adopter.
        for items in adopted.values():
            lanes_t = {i[1:] for i in items if i[0] == "t"}
            lanes_u = {i[1:] for i in items if i[0] == "u"}
            assert lanes_t == lanes_u


async def test_concurrent_admits_of_one_delivery_journal_it_once(redis_url: str) -> None:
    """The same delivery handed to three instances at once: one ADMITTED, two DUPLICATE."""
    verdicts: list[Verdict] = []

    async def instance(name: str) -> None:
        async with RedisStore(redis_url, prefix="t:") as mine:
            verdicts.append(await admit(mine, entry(f"t-{name}", "a/c1", name, ("msg-1",))))

    async with anyio.create_task_group() as tg:
        for name in ("A", "B", "C"):
            tg.start_soon(instance, name)
    assert sorted(verdicts) == sorted([Verdict.ADMITTED, Verdict.DUPLICATE, Verdict.DUPLICATE])


async def test_claims_expire_in_redis_only_after_the_turn_is_finished(
    store: RedisStore, raw: Redis
) -> None:
    """A waiting Turn's claim has no expiry; once finished it expires after dedup_ttl + slack."""
    await admit(store, entry("t1", "a/c1", "me", ("msg-1",)))
    assert await raw.ttl("t:seen:msg-1") == -1
    await store.finish("t1", now=20.0)
    assert 600 < await raw.ttl("t:seen:msg-1") <= 660
    assert await raw.exists("t:journal", "t:lane:a/c1", "t:lanes", "t:order") == 0


async def test_history_expires_and_is_trimmed_across_conversations(
    store: RedisStore, raw: Redis
) -> None:
    """A conversation's history key expires after the TTL; a write trims others' old exchanges."""
    await store.remember("old", Exchange("q", "a", 0.0), limit=5, now=0.0, ttl=60.0)
    await store.remember("new", Exchange("q", "a", 100.0), limit=5, now=100.0, ttl=60.0)
    assert 0 < await raw.ttl("t:history:new") <= 60
    assert await raw.exists("t:history:old") == 0  # trimmed by the other conversation's write
    assert await store.history("new", now=100.0, ttl=60.0, limit=5) == [Exchange("q", "a", 100.0)]


async def test_every_key_has_the_prefix(store: RedisStore, raw: Redis) -> None:
    """Everything the store writes starts with its prefix, so deployments can share a server."""
    await raw.set("someone-else", "1")
    await admit(store, entry("t1", "a/c1", "me"))
    await store.remember("a/c1", Exchange("q", "a", 1.0), limit=5, now=1.0, ttl=60.0)
    await store.opened(OpenMessage("m", "a", "ai_card", {"id": 1}, "", 1.0, "me"))
    await store.register(Instance("me", Role.SERVE, 1, "h", 1.0, 9.0), now=1.0, exclusive=False)
    keys = set(await raw.keys("*"))
    ours = keys - {"someone-else"}
    assert ours
    assert all(k.startswith("t:") for k in ours)


async def test_an_unreachable_server_is_a_state_error_naming_it_without_password() -> None:
    """Nothing listens: entering fails with StateError, its location masks the password."""
    from tests.redis_server import free_port

    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StateError) as failed:
        async with RedisStore(url, timeout=1.0):
            pass  # pragma: no cover
    assert "s3cret" not in str(failed.value)
    assert failed.value.location == shown_url(url) == url.replace("s3cret", "***")


async def test_the_store_works_again_after_a_server_restart(tmp_path: Path) -> None:
    """While the server is down every call is a StateError; after a restart, the same data."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    try:
        async with RedisStore(server.url, timeout=2.0) as store:
            await admit(store, entry("t1", "a/c1", "me"))
            server.stop(kill=True)
            with pytest.raises(StateError):
                await store.next_turn("a/c1", "me")
            with pytest.raises(StateError):
                await admit(store, entry("t2", "a/c1", "me"))
            server.start()
            head = await store.next_turn("a/c1", "me")
            assert head is not None
            assert head.turn_id == "t1"
            assert await admit(store, entry("t2", "a/c1", "me")) is Verdict.ADMITTED
    finally:
        server.stop()


# ---------------------------------------------------------------- sizing (README figures)


async def test_memory_per_turn_exchange_and_claim_stay_within_the_readme_figures(
    store: RedisStore, raw: Redis
) -> None:
    """MEMORY USAGE on a real server: what the README's sizing table says, with margin."""
    n = 200
    before = await _used(raw)
    for i in range(n):
        keys = (f"{i:032x}", f"{i + n:032x}")  # a frame id and a msgId, hashed
        e = JournalEntry(f"{i:032x}", f"helpdesk/cid{i:040d}", "x" * 1500, 1e9, "i" * 32, keys)
        await admit(store, e, now=1e9)
    per_turn = (await _used(raw) - before) / n
    before = await _used(raw)
    for i in range(n):
        exchange = Exchange("问" * 100, "答" * 400, 1e9 + i)
        await store.remember("helpdesk/cid-one", exchange, limit=n, now=1e9 + i, ttl=1e9)
    per_exchange = (await _used(raw) - before) / n
    await store.finish(f"{0:032x}", now=1e9)
    claim = await raw.memory_usage(f"t:seen:{0:032x}")
    print(f"per turn {per_turn:.0f} B, per exchange {per_exchange:.0f} B, per claim {claim} B")
    # README, "Several instances": a Turn of 1.5 KB in a conversation of its own with two
    # delivery ids costs about 2.8 KB; an exchange of 100 + 400 Chinese characters about
    # 1.5 KB; a finished Turn's claim about 120 B per delivery id.
    assert per_turn < 3200
    assert per_exchange < 1700
    assert claim is not None
    assert claim < 200


async def _used(raw: Redis) -> int:
    info = await raw.info("memory")
    return int(info["used_memory"])


def test_config_check_masks_the_redis_password() -> None:
    """`bridge config check` prints a Redis state URL with its password masked."""
    from bridge.config import Config
    from bridge.config_text import config_to_text

    config = Config.model_validate(
        {
            "serve": {"state": "redis://:s3cret@redis.internal:6379/0"},
            "delivery": {"ai_template_id": "t.schema"},
            "assistants": [{"name": "a", "client_id": "c", "client_secret": "x"}],
        }
    )
    text = config_to_text(config)
    assert "s3cret" not in text
    assert 'state = "redis://:**********@redis.internal:6379/0"' in text
