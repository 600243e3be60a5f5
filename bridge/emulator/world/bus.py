"""The emulator's event bus: who wants to know when a message changes or a call is logged.

State code publishes synchronously (it must never wait on a slow reader); each subscriber
gets its own bounded anyio memory stream. A subscriber that falls a whole buffer behind is
disconnected (its stream ends) rather than slowing the emulator down or silently losing
events in the middle. ``GET /_emulator/events`` streams a subscription as server-sent
events for the sandbox page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bridge.emulator.control.views import CallView, EventView, MessageView


def message_changed(message: MessageView) -> EventView:
    """The event for a message that was created or changed."""
    return EventView(type="message.changed", message=message)


def call_logged(call: CallView) -> EventView:
    """The event for a request that was answered and logged."""
    return EventView(type="call.logged", call=call)


class EventBus:
    """Fan-out of ``EventView``s to any number of subscribers."""

    def __init__(self, buffer: int = 1000) -> None:
        self._buffer = buffer
        self._subscribers: set[MemoryObjectSendStream[EventView]] = set()

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscribers)

    @contextmanager
    def subscribe(self) -> Iterator[MemoryObjectReceiveStream[EventView]]:
        """Receive every event published while the block runs."""
        send, receive = anyio.create_memory_object_stream[EventView](self._buffer)
        self._subscribers.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    def publish(self, event: EventView) -> None:
        """Deliver ``event`` to every subscriber without waiting."""
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                # Too slow or gone: end its stream so the reader notices the gap.
                self._subscribers.discard(send)
                send.close()

    def disconnect_all(self) -> None:
        """End every open subscription (the server is stopping)."""
        for send in list(self._subscribers):
            send.close()
        self._subscribers.clear()
