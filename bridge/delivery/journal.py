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
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace

from bridge.delivery.surface import LiveMessage, Surface
from bridge.logcontext import note_surface
from bridge.state import OpenMessage, Store

log = logging.getLogger(__name__)


class JournaledMessage:
    """A live message whose open state is mirrored in the store."""

    def __init__(self, inner: LiveMessage, store: Store, record: OpenMessage) -> None:
        self._inner = inner
        self._store = store
        self._record = record

    @property
    def handle(self) -> Mapping[str, str] | None:
        return self._inner.handle

    async def update(self, text: str) -> None:
        await self._inner.update(text)
        self._record = replace(self._record, text=text)
        await self._store.opened(self._record)

    async def close(self, text: str, *, ok: bool) -> None:
        await self._inner.close(text, ok=ok)
        await self._store.closed(self._record.message_id)


class JournaledSurface:
    """A surface whose opened messages are journaled in ``store``."""

    def __init__(
        self,
        inner: Surface,
        store: Store,
        *,
        assistant: str,
        clock: Callable[[], float],
        owner: str = "",
    ) -> None:
        self._inner = inner
        self._store = store
        self._assistant = assistant
        self._clock = clock
        self._owner = owner  # "" records the message as nobody's: any start-up may close it

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def can_stream(self) -> bool:
        return self._inner.can_stream

    @property
    def can_split(self) -> bool:
        return self._inner.can_split

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
        await self._store.opened(record)
        note_surface(record.surface, record.message_id)
        return JournaledMessage(message, self._store, record)

    async def send_once(self, text: str) -> None:
        await self._inner.send_once(text)
