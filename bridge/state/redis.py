"""``RedisStore``: the state store on one Redis server, shared by several ``bridge serve``.

Chosen by ``[serve] state = "redis://host:port/db"`` (``rediss://`` for TLS,
``unix:///path/redis.sock?db=0`` for a socket). Every key starts with a prefix
(``[serve] state_prefix``, ``bridge:`` by default), so deployments can share a server;
``bridge.state.redis_scripts`` lists the keys. Each operation that reads and writes is
one Lua script, which Redis runs atomically; the reads that need several keys at once
run in one ``MULTI`` transaction. Ordering comes from the store's own counter
(``INCR``), never from a clock, and ``now`` is always passed in, so instances on
different hosts agree on what a lease or a claim meant when it was written.

**Errors.** The client never retries by itself (``Retry`` with no retries: the
operations that may be retried are retried by their callers, who know which ones are
idempotent). A command gets ``timeout`` seconds; any Redis failure (refused, timed out,
lost connection, an error answered) becomes a ``StateError`` naming the server (the
password masked). The connection pool reconnects on the next command, so once Redis is
back, work goes on without a restart.

**Credentials.** A journaled Turn's payload and an open message's handle hold
credentials (webhook URLs, conversation tokens), as in SQLite; they are deleted when
the Turn is finished or the message closed. Protect the server as you would the state
file: a password (``redis://:${REDIS_PASSWORD}@host:6379/0``), TLS across hosts.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from bridge.errors import StateError
from bridge.state import redis_scripts as lua
from bridge.state.records import (
    Exchange,
    Instance,
    JournalEntry,
    OpenMessage,
    Role,
    StoreCounts,
    Verdict,
)

__all__ = ["RedisStore", "is_redis_url", "shown_url"]

T = TypeVar("T")

_SCHEMES = ("redis://", "rediss://", "unix://")
_SWEEP = 20  # other conversations' expired history trimmed per write
_SCRIPTS = "ADMIT FINISH NEXT_TURN ADOPT_TURNS OPENED ADOPT_MESSAGES REGISTER RENEW REMEMBER"


def is_redis_url(state: str) -> bool:
    """True when ``[serve] state`` names a Redis server rather than a file."""
    return state.startswith(_SCHEMES)


def shown_url(url: str, *, mask: str = "***") -> str:
    """``url`` with its password replaced by ``mask``, for logs, errors and printing."""
    if not is_redis_url(url):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{mask}@{host}"))


class RedisStore:
    """``Store`` on a Redis server; use as ``async with RedisStore(url) as store``."""

    def __init__(self, url: str, *, prefix: str = "bridge:", timeout: float = 5.0) -> None:
        self._url = url
        self._where = shown_url(url)
        self._prefix = prefix
        self._timeout = timeout
        self._redis: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}

    shared = True  # several instances may work from one server at once

    async def __aenter__(self) -> RedisStore:
        try:
            redis = Redis.from_url(
                self._url,
                decode_responses=True,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:  # a malformed URL
            raise StateError(f"is not a usable Redis URL: {exc}", location=self._where) from exc
        self._redis = redis
        self._scripts = {
            name: redis.register_script(getattr(lua, name)) for name in _SCRIPTS.split()
        }
        try:
            await self._call(redis.ping())
        except StateError:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:  # idempotent
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose()

    # -- plumbing ----------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    @property
    def _client(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisStore used outside its 'async with' block")
        return self._redis

    async def _call(self, pending: Awaitable[T]) -> T:
        """Await one Redis call; any failure becomes a ``StateError`` in words."""
        try:
            return await pending
        except RedisTimeout as exc:
            raise StateError(f"timed out after {self._timeout:g} s", location=self._where) from exc
        except (RedisError, OSError) as exc:
            raise StateError(f"failed: {exc}", location=self._where) from exc

    async def _script(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        script = self._scripts[name]
        return await self._call(script(keys=list(keys), args=[_arg(a) for a in args]))

    async def _atomically(self, build: Callable[[Any], object]) -> list[Any]:
        """Run the commands ``build`` queues in one MULTI/EXEC; their results in order."""

        async def run() -> list[Any]:
            async with self._client.pipeline(transaction=True) as pipe:
                build(pipe)
                return list(await pipe.execute())

        return await self._call(run())

    # -- history -------------------------------------------------------------------

    async def history(self, key: str, *, now: float, ttl: float, limit: int) -> list[Exchange]:
        if limit <= 0:
            return []
        items = await self._call(self._client.lrange(self._key("history", key), 0, -1))
        kept = [e for e in (_exchange(str(i)) for i in items) if now - e.at <= ttl]
        return kept[-limit:]

    async def remember(
        self, key: str, exchange: Exchange, *, limit: int, now: float, ttl: float
    ) -> None:
        item = f"{exchange.at!r}|" + _dumps(
            {"user": exchange.user, "assistant": exchange.assistant}
        )
        keys = [self._key("history", key), self._key("history-due")]
        expire = max(1, int(-(-ttl // 1)))
        await self._script("REMEMBER", keys, [item, limit, now, ttl, expire, _SWEEP])

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
        record = {
            "lane": entry.lane,
            "payload": entry.payload,
            "accepted_at": entry.accepted_at,
            "keys": list(entry.delivery_keys),
            "dedup_ttl": dedup_ttl,
        }
        keys = [
            self._key("journal"),
            self._key("order"),
            self._key("lanes"),
            self._key("seq"),
            self._key("lane", entry.lane),
            *(self._key("seen", k) for k in entry.delivery_keys),
        ]
        args = [entry.turn_id, entry.lane, entry.owner, now, dedup_ttl, max_per_lane]
        verdict = await self._script("ADMIT", keys, [*args, max_total, _dumps(record)])
        return Verdict(verdict)

    async def finish(self, turn_id: str, *, now: float) -> None:
        keys = [self._key("journal"), self._key("order"), self._key("lanes")]
        await self._script("FINISH", keys, [turn_id, now, self._prefix])

    async def journaled(self, *, owner: str | None = None) -> list[JournalEntry]:
        order, journal, lanes = await self._atomically(
            lambda pipe: (
                pipe.zrange(self._key("order"), 0, -1),
                pipe.hgetall(self._key("journal")),
                pipe.hgetall(self._key("lanes")),
            )
        )
        entries = []
        for turn_id in order:
            raw = journal.get(turn_id)
            if raw is None:
                continue
            entry = _entry(turn_id, raw, lanes)
            if owner is None or entry.owner == owner:
                entries.append(entry)
        return entries

    async def adopt_turns(self, owner: str, *, now: float) -> list[JournalEntry]:
        keys = [self._key("lanes"), self._key("leases"), self._key("journal")]
        flat = await self._script("ADOPT_TURNS", keys, [owner, now, self._prefix])
        pairs = zip(flat[::2], flat[1::2], strict=True)
        return [_entry(turn_id, raw, {}, owner=owner) for turn_id, raw in pairs if raw]

    async def next_turn(self, lane: str, owner: str) -> JournalEntry | None:
        keys = [self._key("lanes"), self._key("journal")]
        found = await self._script("NEXT_TURN", keys, [lane, owner, self._prefix])
        if not found or not found[1]:
            return None
        return _entry(found[0], found[1], {}, owner=owner)

    async def lanes(self, owner: str) -> list[str]:
        held = await self._call(self._client.hgetall(self._key("lanes")))
        return sorted(str(lane) for lane, holder in held.items() if holder == owner)

    # -- open messages -----------------------------------------------------------------

    async def opened(self, message: OpenMessage) -> None:
        record = {
            "assistant": message.assistant,
            "surface": message.surface,
            "handle": message.handle,
            "text": message.text,
            "opened_at": message.opened_at,
        }
        keys = [self._key("open"), self._key("open", "owner"), self._key("open", "seq")]
        args = [message.message_id, _dumps(record), message.owner]
        await self._script("OPENED", [*keys, self._key("seq")], args)

    async def closed(self, message_id: str) -> None:
        await self._atomically(
            lambda pipe: [
                pipe.hdel(self._key(*name), message_id)
                for name in (("open",), ("open", "owner"), ("open", "seq"))
            ]
        )

    async def open_messages(self) -> list[OpenMessage]:
        records, owners, seqs = await self._atomically(
            lambda pipe: [
                pipe.hgetall(self._key(*name))
                for name in (("open",), ("open", "owner"), ("open", "seq"))
            ]
        )
        found = [
            (_message(i, raw, owners.get(i, "")), int(seqs.get(i, 0))) for i, raw in records.items()
        ]
        return [m for m, _ in sorted(found, key=lambda f: (f[0].opened_at, f[1]))]

    async def adopt_messages(self, owner: str, *, now: float) -> list[OpenMessage]:
        keys = [
            self._key("open", "owner"),
            self._key("leases"),
            self._key("open"),
            self._key("open", "seq"),
        ]
        flat = await self._script("ADOPT_MESSAGES", keys, [owner, now])
        found = [
            (_message(i, raw, owner), int(seq or 0))
            for i, raw, seq in zip(flat[::3], flat[1::3], flat[2::3], strict=True)
            if raw
        ]
        return [m for m, _ in sorted(found, key=lambda f: (f[0].opened_at, f[1]))]

    # -- instances ---------------------------------------------------------------------

    async def register(self, instance: Instance, *, now: float, exclusive: bool) -> Instance | None:
        record = {
            "role": instance.role.value,
            "pid": instance.pid,
            "host": instance.host,
            "started_at": instance.started_at,
        }
        keys = [self._key("instances"), self._key("leases")]
        args = [instance.id, _dumps(record), instance.lease_until, now]
        holder = await self._script(
            "REGISTER", keys, [*args, 1 if exclusive else 0, instance.role.value]
        )
        if not holder:
            return None
        return _instance(holder[0], holder[1], holder[2])

    async def renew(self, instance_id: str, *, lease_until: float) -> bool:
        keys = [self._key("instances"), self._key("leases")]
        return bool(await self._script("RENEW", keys, [instance_id, lease_until]))

    async def unregister(self, instance_id: str) -> None:
        await self._atomically(
            lambda pipe: (
                pipe.hdel(self._key("instances"), instance_id),
                pipe.hdel(self._key("leases"), instance_id),
            )
        )

    async def instances(self) -> list[Instance]:
        records, leases = await self._atomically(
            lambda pipe: (
                pipe.hgetall(self._key("instances")),
                pipe.hgetall(self._key("leases")),
            )
        )
        found = (_instance(i, raw, leases.get(i, "0")) for i, raw in records.items())
        return sorted(found, key=lambda i: (i.started_at, i.id))  # ties: by id

    # -- the whole ---------------------------------------------------------------------

    async def counts(self) -> StoreCounts:
        journaled, opened, instances = await self._atomically(
            lambda pipe: (
                pipe.zcard(self._key("order")),
                pipe.hlen(self._key("open")),
                pipe.hlen(self._key("instances")),
            )
        )
        return StoreCounts(journaled=journaled, open_messages=opened, instances=instances)


def _dumps(value: object) -> str:
    """JSON in UTF-8: a Chinese character is 3 bytes in Redis, not the 6 of ``\\u4f60``."""
    return json.dumps(value, ensure_ascii=False)


def _arg(value: object) -> str | int:
    """A script argument: floats in full precision (``repr``), ints and strings as they are."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str):
        return value
    raise TypeError(f"not a script argument: {value!r}")


def _exchange(item: str) -> Exchange:
    at, _, body = item.partition("|")
    data = json.loads(body)
    return Exchange(user=data["user"], assistant=data["assistant"], at=float(at))


def _entry(
    turn_id: str, raw: str, lanes: dict[str, str], *, owner: str | None = None
) -> JournalEntry:
    data = json.loads(raw)
    return JournalEntry(
        turn_id=turn_id,
        lane=data["lane"],
        payload=data["payload"],
        accepted_at=float(data["accepted_at"]),
        owner=owner if owner is not None else lanes.get(data["lane"], ""),
        delivery_keys=tuple(data["keys"]),
    )


def _message(message_id: str, raw: str, owner: str) -> OpenMessage:
    data = json.loads(raw)
    return OpenMessage(
        message_id=message_id,
        assistant=data["assistant"],
        surface=data["surface"],
        handle=data["handle"],
        text=data["text"],
        opened_at=float(data["opened_at"]),
        owner=owner,
    )


def _instance(instance_id: str, raw: str, lease_until: str) -> Instance:
    data = json.loads(raw)
    return Instance(
        id=instance_id,
        role=Role(data["role"]),
        pid=int(data["pid"]),
        host=data["host"],
        started_at=float(data["started_at"]),
        lease_until=float(lease_until),
    )
