"""Stop requests between instances: the mailbox a stop goes to when its reply runs elsewhere.

With several ``bridge serve`` on one Redis, the stop button's callback (or a stop word)
may reach an instance that does not run the reply it is meant for: DingTalk hands a
Stream callback to any connection, and a conversation's replies run on its lane's
owner. That instance posts the request here, under its target (``card:<outTrackId>``,
``token:<conversationToken>``, ``lane:<assistant>/<conversation>``); every instance
takes, every half second, the requests for the targets it runs (``bridge.stops``).

``StopMailbox`` is the protocol; ``RedisStopMailbox`` keeps one key per target, ``P
stop:<target>`` (``P`` is ``[serve] state_prefix``), a JSON request that expires after
``ttl`` seconds (a request nobody takes was for a reply that ended). ``MemoryStopMailbox``
does the same in one process, for tests. A store that is not shared (SQLite, memory)
needs no mailbox: every reply runs in the one process that has the doors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from bridge.errors import StateError
from bridge.state.redis import RedisStore

__all__ = [
    "MemoryStopMailbox",
    "RedisStopMailbox",
    "StopMailbox",
    "StopRequest",
    "request_from_json",
]


@dataclass(frozen=True, slots=True)
class StopRequest:
    """Someone asks to stop the reply of ``target``.

    ``requester`` holds the asker's ids (staff id, union id; empty when a callback named
    nobody); ``reason`` says how (``stop button``, ``stop word``, ``newer message``) for
    the log. For a lane, ``until`` is the Turn that asked (the stop word, or the newer
    message): the requester's Turns waiting before it in the lane are dropped.
    """

    target: str
    requester: frozenset[str]
    reason: str
    until: str | None = None

    def to_json(self) -> str:
        """The request as JSON text (``request_from_json`` reads it back)."""
        return json.dumps(
            {
                "target": self.target,
                "requester": sorted(self.requester),
                "reason": self.reason,
                "until": self.until,
            },
            ensure_ascii=False,
        )


def request_from_json(text: str) -> StopRequest | None:
    """The request ``to_json`` wrote; None for anything else (a foreign or broken key)."""
    try:
        data = json.loads(text)
        requester = data["requester"]
        until = data.get("until")
        request = StopRequest(
            target=str(data["target"]),
            requester=frozenset(str(i) for i in requester),
            reason=str(data["reason"]),
            until=None if until is None else str(until),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return request


class StopMailbox(Protocol):
    """Where stop requests wait for the instance that runs their reply."""

    async def post(self, request: StopRequest) -> None:
        """Leave ``request`` for whoever runs its target; raises ``StateError``."""

    async def take(self, targets: Sequence[str]) -> list[StopRequest]:
        """The requests waiting for ``targets``, removed; raises ``StateError``."""


class RedisStopMailbox:
    """``StopMailbox`` on the Redis server of a ``RedisStore`` (its connection, its prefix)."""

    def __init__(self, store: RedisStore, *, ttl: float = 120.0) -> None:
        self._store = store
        self._ttl = max(1, round(ttl))

    def _key(self, target: str) -> str:
        # The store's own key scheme and error translation (package-private on purpose:
        # the mailbox lives beside the store and shares its server).
        return self._store._key("stop", target)

    async def post(self, request: StopRequest) -> None:
        client = self._store._client
        key = self._key(request.target)
        await self._store._call(client.set(key, request.to_json(), ex=self._ttl))

    async def take(self, targets: Sequence[str]) -> list[StopRequest]:
        if not targets:
            return []
        client = self._store._client
        keys = [self._key(t) for t in targets]
        values = await self._store._call(client.mget(keys))
        found = [k for k, v in zip(keys, values, strict=True) if v is not None]
        if found:
            await self._store._call(client.delete(*found))
        # decode_responses: the client answers str.
        requests = (request_from_json(str(v)) for v in values if v is not None)
        return [r for r in requests if r is not None]


class MemoryStopMailbox:
    """``StopMailbox`` in one process (tests); ``now`` for the expiry, like the stores.

    ``taken`` is set each time a ``take`` finds something (create it in a running loop).
    """

    def __init__(self, *, clock: Callable[[], float], ttl: float = 120.0) -> None:
        self._clock = clock
        self._ttl = ttl
        self._waiting: dict[str, tuple[float, StopRequest]] = {}
        self.reachable = True
        self.taken = anyio.Event()

    async def post(self, request: StopRequest) -> None:
        self._check()
        self._waiting[request.target] = (self._clock() + self._ttl, request)

    async def take(self, targets: Sequence[str]) -> list[StopRequest]:
        self._check()
        now = self._clock()
        taken = [self._waiting.pop(t) for t in targets if t in self._waiting]
        if taken:
            self.taken.set()
        return [request for until, request in taken if until > now]

    def _check(self) -> None:
        if not self.reachable:
            raise StateError("unreachable (test)", location="memory")
