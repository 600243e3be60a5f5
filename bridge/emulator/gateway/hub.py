"""The Stream gateway's state: tickets, live connections, frames sent, ACKs read, deliveries.

``StreamHub`` holds no socket. The WebSocket endpoint (``routes``) attaches a
``Connection`` per socket and runs it: it drains the connection's outbox onto the socket
and feeds every text the client sends to ``StreamHub.on_text``. Everything else (the
control API, the inbound dispatcher, the connection's own ping timer) only calls methods
here, which put frames in an outbox without waiting, record them and publish bus events.

Redelivery: a CALLBACK frame that carries an inbound message (a ``Delivery``) is watched
for ``ack_timeout`` seconds by a task in its connection's task group; without an ACK it
is sent again with a new ``messageId`` and the same payload, at most ``max_redeliveries``
times. (The developer wiki says the platform only redelivers events; the emulator
redelivers every delivery, which is the stricter test of a client's deduplication.) If
its connection is gone, the delivery waits for the app's next connection.
"""

from __future__ import annotations

import itertools
import random
import secrets
import time
from collections.abc import Callable

import anyio
from anyio.abc import TaskGroup

from bridge.emulator.control.views import (
    AckView,
    EventView,
    FrameKind,
    FrameView,
    StreamSettingsView,
)
from bridge.emulator.errors import EmulatorError, not_found
from bridge.emulator.gateway.connection import Close, Connection, Delivery, SentFrame
from bridge.emulator.gateway.frames import (
    DISCONNECT,
    PING,
    disconnect_data,
    echoes,
    frame_text,
    message_id_in,
    new_message_id,
    parse_ack,
    ping_data,
    topic_in,
)
from bridge.emulator.gateway.tickets import Ticket, Tickets
from bridge.emulator.openapi.apps import Apps
from bridge.emulator.world.bus import EventBus
from bridge.emulator.world.clock import EmulatorClock

OUTBOX_SIZE = 1000
"""Frames queued for one socket before the gateway gives up on its reader."""


class StreamHub:
    """Tickets, connections, the frame and ACK logs, and deliveries of one emulated world."""

    def __init__(
        self,
        apps: Apps,
        clock: EmulatorClock,
        bus: EventBus,
        settings: StreamSettingsView,
        seed: int = 0,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self.settings = settings
        self.random = random.Random(seed)
        self.tickets = Tickets(apps, clock, lambda: self.settings.ticket_lifetime)
        self.connections: dict[str, Connection] = {}
        self.deliveries: dict[str, Delivery] = {}
        self._frames: list[FrameView] = []
        self._acks: list[AckView] = []
        self._connection_ids = itertools.count(1)
        self._delivery_ids = itertools.count(1)
        self._changed = anyio.Event()
        self.settings_changed = anyio.Event()

    # -- settings and waiting ------------------------------------------------------------

    def set_settings(self, settings: StreamSettingsView) -> None:
        """Replace the settings; running timers pick the new values up at once."""
        self.settings = settings
        self.settings_changed.set()
        self.settings_changed = anyio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, condition: Callable[[], bool], within: float) -> bool:
        """Wait (at most ``within`` s) until ``condition()`` holds after some change."""
        with anyio.move_on_after(within):
            while not condition():
                await self._changed.wait()
        return condition()

    # -- connections ---------------------------------------------------------------------

    def attach(self, ticket: Ticket, task_group: TaskGroup) -> Connection:
        """Register the socket of a redeemed ticket; its timers run in ``task_group``."""
        outbox, inbox = anyio.create_memory_object_stream[str | Close](OUTBOX_SIZE)
        connection = Connection(
            id=f"conn-{next(self._connection_ids)}-{secrets.token_hex(4)}",
            ticket=ticket,
            opened_at=time.time(),
            task_group=task_group,
            outbox=outbox,
            inbox=inbox,
        )
        self.connections[connection.id] = connection
        self._bus.publish(EventView(type="stream.connected", connection=connection.view()))
        self._notify()
        for delivery in self.deliveries.values():
            mine = delivery.orphaned and delivery.client_id == connection.client_id
            if mine and connection.subscribed(delivery.topic):
                self._send_delivery(delivery, connection)
        return connection

    def detach(self, connection: Connection, code: int | None) -> None:
        """The socket is gone: unacknowledged deliveries wait for the next connection."""
        if connection.closed_at is not None:
            return
        connection.closed_at = time.time()
        connection.close_code = code
        connection.outbox.close()
        connection.inbox.close()
        for delivery in self.deliveries.values():
            if delivery.state == "pending" and delivery.frames:
                last = delivery.frames[-1]
                if last in connection.sent:
                    delivery.orphaned = True
        self._bus.publish(EventView(type="stream.closed", connection=connection.view()))
        self._notify()

    def connection(self, connection_id: str) -> Connection:
        """The connection with this id (live or closed)."""
        try:
            return self.connections[connection_id]
        except KeyError:
            raise not_found("connection", connection_id) from None

    def live(self, client_id: str | None = None, topic: str | None = None) -> list[Connection]:
        """Live connections, newest first, of an app and for a topic when given."""
        found = [
            c
            for c in self.connections.values()
            if c.live
            and (client_id is None or c.client_id == client_id)
            and (topic is None or c.subscribed(topic))
        ]
        return sorted(found, key=lambda c: c.opened_at, reverse=True)

    def targets(self, client_id: str | None, connection_id: str | None) -> list[Connection]:
        """What a control call addresses: one connection, or every live one of an app."""
        if connection_id is not None:
            connection = self.connection(connection_id)
            if connection.closed_at is not None:
                raise EmulatorError(f"connection {connection_id!r} is closed", status=409)
            return [connection]
        found = self.live(client_id)
        if not found:
            raise EmulatorError("no live Stream connection", status=409)
        return found

    def close_all(self, code: int = 1001) -> None:
        """Ask every open socket to close now (the world is being reset)."""
        for connection in list(self.connections.values()):
            if connection.closed_at is None:
                self.close(connection, code)

    # -- sending -------------------------------------------------------------------------

    def _send(
        self,
        connection: Connection,
        kind: FrameKind,
        topic: str,
        data: str,
        delivery_id: str | None = None,
    ) -> FrameView:
        now_ms = self._clock.now_ms()
        message_id = new_message_id(now_ms)
        text = frame_text(
            kind=kind,
            topic=topic,
            message_id=message_id,
            app_id=connection.client_id,
            connection_id=connection.id,
            now_ms=now_ms,
            data=data,
        )
        connection.sent[message_id] = SentFrame(kind, topic, data, delivery_id)
        return self._put(connection, kind, topic, message_id, text, delivery_id)

    def _put(
        self,
        connection: Connection,
        kind: FrameKind,
        topic: str,
        message_id: str | None,
        text: str,
        delivery_id: str | None,
    ) -> FrameView:
        try:
            connection.outbox.send_nowait(text)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise EmulatorError(
                f"connection {connection.id} cannot take frames", status=409
            ) from None
        connection.frames_sent += 1
        view = FrameView(
            seq=len(self._frames) + 1,
            connection_id=connection.id,
            client_id=connection.client_id,
            type=kind,
            topic=topic,
            message_id=message_id,
            delivery_id=delivery_id,
            text=text,
            at=time.time(),
        )
        self._frames.append(view)
        self._bus.publish(EventView(type="stream.frame", frame=view))
        self._notify()
        return view

    def ping(self, connection: Connection) -> FrameView:
        """A SYSTEM ping the client must answer by echoing its ``data``."""
        return self._send(connection, "SYSTEM", PING, ping_data())

    def disconnect(
        self, connection: Connection, reason: str = "emulator", delay: float | None = None
    ) -> FrameView:
        """A SYSTEM disconnect, then the socket closes after ``delay`` (settings default)."""
        frame = self._send(connection, "SYSTEM", DISCONNECT, disconnect_data(reason))
        connection.draining = True
        wait = self.settings.disconnect_delay if delay is None else delay
        connection.outbox.send_nowait(Close(1000, "disconnect", wait))
        self._notify()
        return frame

    def inject(self, connection: Connection, text: str) -> FrameView:
        """Arbitrary text to the client (malformed-frame tests)."""
        message_id = message_id_in(text)
        topic = topic_in(text)
        if message_id is not None:
            connection.sent[message_id] = SentFrame("RAW", topic, "", None)
        return self._put(connection, "RAW", topic, message_id, text, None)

    def close(self, connection: Connection, code: int = 1000) -> None:
        """Close the socket without a disconnect frame (a dropped connection)."""
        connection.draining = True
        try:
            connection.outbox.send_nowait(Close(code, "closed by the emulator"))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # already closing
        self._notify()

    # -- deliveries ----------------------------------------------------------------------

    def deliver(
        self, client_id: str, topic: str, msg_id: str, data: str
    ) -> tuple[Delivery, FrameView]:
        """Send an inbound message to the app's newest live connection for ``topic``."""
        found = self.live(client_id, topic)
        if not found:
            raise EmulatorError(
                f"app {client_id!r} has no live Stream connection for {topic}", status=409
            )
        delivery = Delivery(
            id=f"dlv-{next(self._delivery_ids)}",
            client_id=client_id,
            topic=topic,
            msg_id=msg_id,
            data=data,
        )
        self.deliveries[delivery.id] = delivery
        return delivery, self._send_delivery(delivery, found[0])

    def delivery(self, delivery_id: str) -> Delivery:
        """The delivery with this id."""
        try:
            return self.deliveries[delivery_id]
        except KeyError:
            raise not_found("delivery", delivery_id) from None

    def redeliver(self, delivery: Delivery) -> FrameView:
        """Send a delivery again now, acknowledged or not (new ``messageId``, same data)."""
        found = self.live(delivery.client_id, delivery.topic)
        if not found:
            raise EmulatorError(f"app {delivery.client_id!r} has no live connection", status=409)
        return self._send_delivery(delivery, found[0])

    def _send_delivery(self, delivery: Delivery, connection: Connection) -> FrameView:
        delivery.orphaned = False
        frame = self._send(connection, "CALLBACK", delivery.topic, delivery.data, delivery.id)
        assert frame.message_id is not None
        delivery.frames.append(frame.message_id)
        if delivery.state == "pending":
            try:
                connection.task_group.start_soon(self._watch, delivery, frame.message_id)
            except RuntimeError:  # the connection is being torn down
                delivery.orphaned = True
        return frame

    async def _watch(self, delivery: Delivery, message_id: str) -> None:
        """Redeliver if ``message_id`` is still the delivery's latest frame, unacknowledged."""
        await anyio.sleep(self.settings.ack_timeout)
        if delivery.state != "pending" or delivery.frames[-1] != message_id:
            return
        if len(delivery.frames) > self.settings.max_redeliveries:
            delivery.state = "gave_up"
            self._notify()
            return
        found = self.live(delivery.client_id, delivery.topic)
        if found:
            self._send_delivery(delivery, found[0])
        else:
            delivery.orphaned = True

    # -- ACKs ----------------------------------------------------------------------------

    def on_text(self, connection: Connection, text: str) -> AckView:
        """Record one text from the client as an ACK and settle what it acknowledges."""
        ack = parse_ack(text)
        sent = connection.sent.get(ack.message_id) if ack.message_id else None
        echo_ok = None
        if sent is not None and sent.kind == "SYSTEM" and sent.topic == PING:
            echo_ok = echoes(sent.data, ack.data)
        connection.acks_received += 1
        view = AckView(
            seq=len(self._acks) + 1,
            connection_id=connection.id,
            client_id=connection.client_id,
            message_id=ack.message_id,
            matched=sent is not None,
            frame_type=sent.kind if sent else None,
            topic=sent.topic if sent else None,
            delivery_id=sent.delivery_id if sent else None,
            code=ack.code,
            message=ack.message,
            data=ack.data,
            echo_ok=echo_ok,
            error=ack.error,
            text=text,
            at=time.time(),
        )
        self._acks.append(view)
        if sent is not None and sent.delivery_id is not None and ack.error is None:
            delivery = self.deliveries[sent.delivery_id]
            if delivery.state != "acked":
                delivery.state = "acked"
                delivery.ack_code = ack.code
        self._bus.publish(EventView(type="stream.ack", ack=view))
        self._notify()
        return view

    # -- logs ----------------------------------------------------------------------------

    def frames(self, since: int = 0, client_id: str | None = None) -> list[FrameView]:
        """Frames sent after ``since``, oldest first."""
        return [f for f in self._frames if f.seq > since and client_id in (None, f.client_id)]

    def acks(
        self,
        since: int = 0,
        message_id: str | None = None,
        connection_id: str | None = None,
    ) -> list[AckView]:
        """ACKs read after ``since``, oldest first, optionally for one frame or connection."""
        return [
            a
            for a in self._acks
            if a.seq > since
            and message_id in (None, a.message_id)
            and connection_id in (None, a.connection_id)
        ]
