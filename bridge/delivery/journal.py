"""Journaling surfaces: every opened message is on disk until it is closed.

``JournaledSurface`` wraps a surface so that ``open`` records the message (its surface,
its ``handle`` and its ``owner``, the process streaming it) in the ``Store``, each update
refreshes the recorded text, and a successful ``close`` deletes the record (the handle
is a credential). If the process dies in between, the next start-up finds the record,
ownerless now, and hands the handle to the surface kind's ``recover``, which closes the
message with the text it had and a notice (``bridge.recovery``): a kill must never leave
a chat showing "思考中" forever. While its owner lives, nobody else touches it (a
``bridge send`` beside a ``bridge serve``). A message without a handle is not journaled:
nothing could close it.

A close that fails keeps the record on purpose: the relay then sends the full text
through a one-shot surface, and the next start-up still closes the stuck bubble.

**An unreachable store** never breaks a reply that streams: a record that cannot be
written is written by the next update (the store upserts), and the deletion of a closed
message's record that fails is kept in ``Leftovers``, which the process retries later
(``Leftovers.retry``, run periodically), so no closed message is "recovered" again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace

from bridge.delivery.surface import LiveMessage, Surface, WrappedSurface
from bridge.errors import StateError
from bridge.logcontext import note_surface
from bridge.state import OpenMessage, Store

log = logging.getLogger(__name__)


class Leftovers:
    """Records of closed messages the store could not delete (it was unreachable)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, message_id: str) -> None:
        self._ids.add(message_id)

    async def retry(self, store: Store) -> int:
        """Delete the records now; returns how many are left (the store is still away)."""
        for message_id in sorted(self._ids):
            try:
                await store.closed(message_id)
            except StateError:
                break
            self._ids.discard(message_id)
        return len(self._ids)


class JournaledMessage:
    """A live message whose open state is mirrored in the store."""

    def __init__(
        self,
        inner: LiveMessage,
        store: Store,
        record: OpenMessage,
        leftovers: Leftovers | None = None,
    ) -> None:
        self._inner = inner
        self._store = store
        self._record = record
        self._leftovers = leftovers

    @property
    def handle(self) -> Mapping[str, str] | None:
        return self._inner.handle

    async def update(self, text: str) -> None:
        await self._inner.update(text)
        self._record = replace(self._record, text=text)
        await _write(self._store, self._record)

    async def close(self, text: str, *, ok: bool) -> None:
        await self._inner.close(text, ok=ok)
        try:
            await self._store.closed(self._record.message_id)
        except StateError as exc:
            log.warning(
                "closed message %s stays recorded for now: %s", self._record.message_id, exc
            )
            if self._leftovers is not None:
                self._leftovers.add(self._record.message_id)


async def _write(store: Store, record: OpenMessage) -> None:
    """Record ``record``; while the store is away, the next write records it."""
    try:
        await store.opened(record)
    except StateError as exc:
        log.warning("open message %s not recorded for now: %s", record.message_id, exc)


class JournaledSurface(WrappedSurface):
    """A surface whose opened messages are journaled in ``store``."""

    def __init__(
        self,
        inner: Surface,
        store: Store,
        *,
        assistant: str,
        clock: Callable[[], float],
        owner: str = "",
        leftovers: Leftovers | None = None,
    ) -> None:
        super().__init__(inner)
        self._store = store
        self._assistant = assistant
        self._clock = clock
        self._owner = owner  # "" records the message as nobody's: any start-up may close it
        self._leftovers = leftovers

    async def open(self) -> LiveMessage:
        message = await self._inner.open()
        handle = message.handle
        if handle is None:
            return message  # nothing to recover it with: not journaled
        record = OpenMessage(
            message_id=uuid.uuid4().hex,
            assistant=self._assistant,
            surface=self._inner.name,
            handle=dict(handle),
            text="",
            opened_at=self._clock(),
            owner=self._owner,
        )
        await _write(self._store, record)
        note_surface(record.surface, record.message_id)
        return JournaledMessage(message, self._store, record, self._leftovers)
