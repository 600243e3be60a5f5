"""State: what a deployment remembers, behind one interface (design.md §4 "State").

- ``records``: the frozen values stored (exchanges, journaled Turns, open messages,
  instances);
- ``base``: the ``Store`` protocol and the promises every backend keeps;
- ``memory``, ``sqlite``: the backends; a shared one (Redis) is meant to be one more
  module, passing the same contract suite (``tests/state/test_contract.py``);
- ``lease``: this process as an owner (``Instance``), its heartbeat, and which other
  owners are gone.

``open_store(state)`` turns ``[serve] state`` into a store: ``":memory:"`` keeps nothing,
anything else is a SQLite file path.
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
from bridge.state.sqlite import SqliteStore

__all__ = [
    "Exchange",
    "Instance",
    "JournalEntry",
    "MemoryStore",
    "OpenMessage",
    "Role",
    "SqliteStore",
    "Store",
    "StoreCounts",
    "Verdict",
    "open_store",
]


def open_store(state: str) -> AbstractAsyncContextManager[MemoryStore | SqliteStore]:
    """The store ``[serve] state`` names, to be entered with ``async with``."""
    if state == ":memory:":
        return MemoryStore()
    return SqliteStore(state)
