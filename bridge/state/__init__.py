"""State: what a deployment remembers, behind one interface (design.md §4 "State").

- ``records``: the frozen values stored (exchanges, journaled Turns, open messages,
  instances);
- ``base``: the ``Store`` protocol and the promises every backend keeps;
- ``memory``, ``sqlite``, ``redis``: the backends, passing one contract suite
  (``tests/state/test_contract.py``); only Redis is shared by several instances;
- ``lease``: this process as an owner (``Instance``), its heartbeat, and which other
  owners are gone.

``open_store(state)`` turns ``[serve] state`` into a store: ``":memory:"`` keeps nothing,
a ``redis://`` (``rediss://``, ``unix://``) URL is a Redis server, anything else is a
SQLite file path.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from bridge.state.base import Store
from bridge.state.memory import MemoryStore
from bridge.state.records import (
    Exchange,
    Instance,
    JournalEntry,
    OpenMessage,
    Role,
    StoreCounts,
    Verdict,
)
from bridge.state.redis import RedisStore, is_redis_url
from bridge.state.sqlite import SqliteStore

__all__ = [
    "Exchange",
    "Instance",
    "JournalEntry",
    "MemoryStore",
    "OpenMessage",
    "RedisStore",
    "Role",
    "SqliteStore",
    "Store",
    "StoreCounts",
    "Verdict",
    "open_store",
]


def open_store(
    state: str, *, prefix: str = "bridge:"
) -> AbstractAsyncContextManager[MemoryStore | SqliteStore | RedisStore]:
    """The store ``[serve] state`` names, to be entered with ``async with``.

    ``prefix`` starts every Redis key (``[serve] state_prefix``); files ignore it.
    """
    if state == ":memory:":
        return MemoryStore()
    if is_redis_url(state):
        return RedisStore(state, prefix=prefix)
    return SqliteStore(state)
