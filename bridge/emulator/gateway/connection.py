"""One Stream WebSocket as the gateway's state sees it, and one delivery over Stream.

Plain records, owned by ``StreamHub`` (``hub``): a ``Connection`` has an outbox that
the WebSocket endpoint (``routes``) drains onto the socket, the frames sent on it (to
match ACKs by ``messageId``) and the task group its timers run in. A ``Delivery`` is an
inbound message with every frame that has carried it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bridge.emulator.control.views import ConnectionView, DeliveryState, DeliveryView, FrameKind
from bridge.emulator.gateway.tickets import Ticket


@dataclass(frozen=True, slots=True)
class Close:
    """An outbox instruction: close the socket with ``code`` after ``delay`` seconds."""

    code: int
    reason: str = ""
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class SentFrame:
    """What the hub remembers of a frame, to match its ACK."""

    kind: FrameKind
    topic: str
    data: str
    delivery_id: str | None


@dataclass
class Connection:
    """One live (or closed) WebSocket of an app."""

    id: str
    ticket: Ticket
    opened_at: float
    task_group: TaskGroup
    outbox: MemoryObjectSendStream[str | Close]
    inbox: MemoryObjectReceiveStream[str | Close]
    closed_at: float | None = None
    close_code: int | None = None
    draining: bool = False
    frames_sent: int = 0
    acks_received: int = 0
    sent: dict[str, SentFrame] = field(default_factory=dict)

    @property
    def client_id(self) -> str:
        """The app the connection belongs to."""
        return self.ticket.client_id

    @property
    def live(self) -> bool:
        """Open and not told to go away: new deliveries may use it."""
        return self.closed_at is None and not self.draining

    def subscribed(self, topic: str) -> bool:
        """Whether the ticket's subscriptions include ``topic``."""
        return topic in self.ticket.topics or "*" in self.ticket.topics

    def view(self) -> ConnectionView:
        """The control-API shape."""
        return ConnectionView(
            id=self.id,
            client_id=self.client_id,
            topics=list(self.ticket.topics),
            ua=self.ticket.ua,
            local_ip=self.ticket.local_ip,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            close_code=self.close_code,
            draining=self.draining,
            frames_sent=self.frames_sent,
            acks_received=self.acks_received,
        )


@dataclass
class Delivery:
    """An inbound message sent over Stream, with its frames (oldest first)."""

    id: str
    client_id: str
    topic: str
    msg_id: str
    data: str
    frames: list[str] = field(default_factory=list)
    state: DeliveryState = "pending"
    ack_code: int | None = None
    orphaned: bool = False

    def view(self) -> DeliveryView:
        """The control-API shape."""
        return DeliveryView(
            id=self.id,
            client_id=self.client_id,
            topic=self.topic,
            msg_id=self.msg_id,
            frames=list(self.frames),
            attempts=len(self.frames),
            state=self.state,
            ack_code=self.ack_code,
        )
