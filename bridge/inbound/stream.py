"""DingTalk Stream mode: receive messages over an outbound WebSocket (no public IP needed).

The protocol (``shared/dingtalk-api.md`` §6.1–6.2) is small enough to speak directly on
httpx2, which keeps cancellation and back-pressure under our control (the official SDK
blocks the event loop and swallows cancellation):

1. ask the gateway for a ticket (``open_stream``, in production
   ``DingTalkClient.open_stream``: ``POST /v1.0/gateway/connections/open`` with the
   app's credentials and the topics → an endpoint and a single-use ticket, valid 90 s);
2. open a WebSocket to ``endpoint?ticket=…``;
3. read frames; answer **every** frame that has a ``messageId`` with an ACK carrying it:
   ``ping`` echoes its data, CALLBACK and EVENT frames go to the handler; a
   ``disconnect`` (with or without a ``messageId``) ends the connection and we come
   back at once with a new ticket.

The handler (a door of ``bridge.inbound``, e.g. ``StreamDoor``) turns the frame into
work and its return value is the ACK: it only records the Turn with the pipeline (no
LLM or DingTalk call happens before the ACK is on the wire), so frames are handled one
at a time, in order. The client reconnects forever
with capped, jittered backoff until it is cancelled; a gateway that refuses the
credentials (``PlatformAuthError``) is retried at the slowest pace.

**One bad frame never ends the connection or the service.** Each frame is handled
inside the containment boundary (``boundary``): a refusal (``InboundError``) is ACKed
with its status, anything unforeseen is logged once with the frame's and the Turn's ids
and ACKed with code 500, and the next frame is read. Frames are accepted by the
WebSocket up to ``PROTOCOL_MAX_FRAME_BYTES`` (16 MiB, far above any DingTalk message);
one larger than ``max_frame_bytes`` (default 1 MiB) is not parsed but ACKed with code
400, its ``messageId`` found by a cheap search, so the gateway has no reason to close
the connection and redeliver it forever. Frame JSON is read bounded (``sanitize``), and
ACKs are ASCII JSON, so no id or text, however odd, can fail to encode.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from httpx2.websockets import HTTPXWSException, WebSocketInvalidTypeReceived

from bridge.dingtalk.wire import StreamTicket, Subscription
from bridge.errors import InboundError, PlatformAuthError, PlatformError
from bridge.inbound.boundary import Arrival, arriving, report
from bridge.inbound.sanitize import read_json

log = logging.getLogger(__name__)

PROTOCOL_MAX_FRAME_BYTES = 16 * 1024 * 1024
"""Largest WebSocket message the connection accepts; beyond it the socket closes."""
DEFAULT_MAX_FRAME_BYTES = 1024 * 1024
"""Largest frame bridge reads; a larger one is ACKed with code 400, unread."""
_MESSAGE_ID = re.compile(r'"messageId"\s*:\s*"([^"\\]{1,256})"')


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame from the gateway, with ``data`` still the JSON string it arrived as.

    ``message_id`` is empty only for a SYSTEM frame that came without one (a
    ``disconnect`` needs no answer, so it needs no id either).
    """

    type: str
    topic: str
    message_id: str
    data: str
    headers: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """What to put in the ACK of a frame: a status code and the ``data`` object."""

    code: int = 200
    message: str = "OK"
    data: Any = field(default_factory=lambda: {"response": None})


FrameHandler = Callable[[Frame], Awaitable[Reply]]
OpenStream = Callable[[Sequence[Subscription]], Awaitable[StreamTicket]]


@dataclass
class StreamStats:
    """Counters an operator (and the tests) can read, and the connection's state.

    ``live`` is True while a WebSocket is open; ``lost`` counts connection attempts that
    failed and connections that broke (a clean ``disconnect`` is not lost), and
    ``last_error`` says why the last one did, for ``/readyz`` and ``/metrics``.
    """

    connections: int = 0
    live: bool = False
    lost: int = 0
    last_error: str | None = None
    frames: int = 0
    malformed: int = 0
    oversized: int = 0
    failed: int = 0  # frames whose handling raised something unforeseen (ACKed 500)
    connected: anyio.Event = field(default_factory=anyio.Event)


class StreamClient:
    """Keeps one Stream connection open for one app and feeds its frames to ``handler``.

    ``open_stream`` asks the gateway for a ticket (``DingTalkClient.open_stream`` of the
    app); ``http`` carries the WebSocket; ``client_id`` names the app in log lines.
    Frames of ``topics`` go to ``handler``, whose ``Reply`` is their ACK; frames over
    ``max_frame_bytes`` are ACKed 400 without being read.
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        open_stream: OpenStream,
        *,
        client_id: str,
        handler: FrameHandler,
        topics: Sequence[str],
        timeout: float = 10.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        keepalive_interval: float = 30.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self._http = http
        self._open_stream = open_stream
        self._client_id = client_id
        self._handler = handler
        self._topics = tuple(topics)
        self._subscriptions = tuple(Subscription.callback(t) for t in self._topics)
        self._timeout = timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._keepalive_interval = keepalive_interval
        self._max_frame_bytes = min(max_frame_bytes, PROTOCOL_MAX_FRAME_BYTES)
        self.stats = StreamStats()

    async def run(self) -> None:
        """Connect, read, reconnect; returns only by cancellation."""
        delay = self._backoff_initial
        while True:
            try:
                ticket = await self._open_stream(self._subscriptions)
                await self._read(ticket)
                delay = self._backoff_initial  # a clean disconnect: come straight back
                continue
            except PlatformAuthError as exc:
                # Wrong credentials do not fix themselves quickly; keep trying slowly.
                log.exception("stream gateway refused the credentials of %s", self._client_id)
                self._lost(f"the gateway refused the credentials: {exc}")
                delay = self._backoff_max
            except (PlatformError, HTTPXWSException, httpx2.HTTPError, OSError) as exc:
                log.warning("stream connection of %s lost: %s", self._client_id, exc)
                self._lost(str(exc) or type(exc).__name__)
            except Exception as exc:  # one connection is a unit of work: log it, reconnect
                log.exception("stream connection of %s failed unexpectedly", self._client_id)
                self._lost(f"{type(exc).__name__}: {exc}")
                delay = self._backoff_max
            wait = random.uniform(delay / 2, delay)
            log.info("stream of %s reconnecting in %.1fs", self._client_id, wait)
            await anyio.sleep(wait)
            delay = min(delay * 2, self._backoff_max)

    def _lost(self, reason: str) -> None:
        self.stats.lost += 1
        self.stats.last_error = reason

    async def _read(self, ticket: StreamTicket) -> None:
        # httpx2's session runs a task group: an error that escapes the ``async with``
        # arrives wrapped in an ExceptionGroup. Catch the socket's own errors inside and
        # re-raise them plainly outside, so ``run`` sees a lost connection and reconnects.
        lost: HTTPXWSException | None = None
        async with self._http.websocket(
            ticket.endpoint,
            params={"ticket": ticket.ticket},
            keepalive_ping_interval_seconds=self._keepalive_interval,
            keepalive_ping_timeout_seconds=self._timeout,
            timeout=self._timeout,
            max_message_size_bytes=PROTOCOL_MAX_FRAME_BYTES,
        ) as ws:
            self.stats.connections += 1
            self.stats.connected.set()
            self.stats.live = True
            log.info("stream of %s connected", self._client_id)
            try:
                while True:
                    try:
                        raw = await ws.receive_text()
                    except WebSocketInvalidTypeReceived:
                        self.stats.malformed += 1
                        log.warning("stream of %s: a non-text message ignored", self._client_id)
                        continue
                    ack, keep_going = await self._contained(raw)
                    if ack is not None:
                        await ws.send_text(ack)
                    if not keep_going:
                        log.info("stream of %s asked to disconnect; reconnecting", self._client_id)
                        return
            except HTTPXWSException as exc:
                lost = exc
            finally:
                self.stats.live = False
        if lost is not None:
            raise lost

    async def _contained(self, raw: str) -> tuple[str | None, bool]:
        """``_on_text`` inside the boundary: whatever fails, ACK 500 and read on."""
        with arriving(f"stream frame of {self._client_id}") as arrival:
            try:
                return await self._on_text(raw, arrival)
            except Exception as exc:  # noqa: BLE001 - the boundary of one frame (module doc)
                self.stats.failed += 1
                message_id = _cheap_message_id(raw)
                arrival.delivery = arrival.delivery or f"frame:{message_id}"
                report(arrival, exc)
                if message_id is None:
                    return None, True
                return _ack(message_id, Reply(code=500, message="internal error")), True

    async def _on_text(self, raw: str, arrival: Arrival) -> tuple[str | None, bool]:
        """The ACK to send for one raw frame (None: unanswerable) and whether to go on."""
        self.stats.frames += 1
        size = len(raw) if len(raw) > self._max_frame_bytes else len(raw.encode("utf-8", "replace"))
        if size > self._max_frame_bytes:
            self.stats.oversized += 1
            message_id = _cheap_message_id(raw)
            log.warning(
                "stream: frame %s of %d bytes refused unread (limit %d)",
                message_id or "without messageId",
                size,
                self._max_frame_bytes,
            )
            if message_id is None:
                return None, True
            reason = f"frame larger than {self._max_frame_bytes} bytes"
            return _ack(message_id, Reply(code=400, message=reason, data={})), True
        try:
            frame = parse_frame(raw)
        except ValueError as exc:
            self.stats.malformed += 1
            message_id = _cheap_message_id(raw)
            log.warning("stream: malformed frame rejected (%s)", exc)
            if message_id is None:
                return None, True
            return _ack(message_id, Reply(code=400, message=str(exc), data={})), True
        if frame.type == "SYSTEM":
            if frame.topic == "disconnect":
                # No reply needed (§6.2): the server closes in about 10 s; we leave now.
                return None, False
            if not frame.message_id:
                self.stats.malformed += 1
                log.warning("stream: SYSTEM %s frame without messageId ignored", frame.topic)
                return None, True
            if frame.topic == "ping":
                return _ack(frame.message_id, Reply(data=frame.data), raw_data=True), True
            return _ack(frame.message_id, Reply(data={})), True
        if frame.type == "EVENT":
            return _ack(frame.message_id, Reply(data={"status": "SUCCESS", "message": ""})), True
        if frame.topic not in self._topics:
            return _ack(frame.message_id, Reply(code=404, message="topic not supported")), True
        arrival.delivery = f"frame:{frame.message_id}"
        try:
            reply = await self._handler(frame)
        except InboundError as exc:
            self.stats.malformed += 1
            log.warning("stream: frame %s rejected: %s", frame.message_id, exc)
            reply = Reply(code=exc.status, message=exc.message, data={})
        return _ack(frame.message_id, reply), True


def parse_frame(raw: str) -> Frame:
    """A Frame from its JSON text; ValueError says what is wrong with it.

    Every frame needs ``headers.messageId`` (its ACK carries it) except a SYSTEM frame,
    which may come without one; its ``message_id`` is then empty.
    """
    try:
        value = read_json(raw, "frame")
    except InboundError as exc:
        raise ValueError(exc.message) from None
    headers = value.get("headers")
    if not isinstance(headers, dict):
        raise ValueError("frame has no headers object")
    kind = value.get("type")
    if kind not in ("SYSTEM", "EVENT", "CALLBACK"):
        raise ValueError(f"frame type must be SYSTEM, EVENT or CALLBACK, got {kind!r}")
    message_id = headers.get("messageId")
    if kind == "SYSTEM" and message_id in (None, ""):
        message_id = ""
    elif not isinstance(message_id, str) or not message_id:
        raise ValueError("frame has no headers.messageId")
    elif not message_id.isprintable():
        raise ValueError("frame's headers.messageId holds control characters")
    topic = headers.get("topic")
    if not isinstance(topic, str):
        raise ValueError("frame has no headers.topic")
    data = value.get("data", "")
    if not isinstance(data, str):
        raise ValueError("frame data must be a JSON string")
    return Frame(type=kind, topic=topic, message_id=message_id, data=data, headers=headers)


def _cheap_message_id(raw: str) -> str | None:
    """``headers.messageId`` found by a linear search, without parsing ``raw``.

    An escaped ``\\"messageId\\"`` inside the data string does not match: its quotes
    are preceded by backslashes.
    """
    match = _MESSAGE_ID.search(raw)
    return match.group(1) if match else None


def _ack(message_id: str, reply: Reply, *, raw_data: bool = False) -> str:
    data = reply.data if raw_data and isinstance(reply.data, str) else json.dumps(reply.data)
    return json.dumps(
        {
            "code": reply.code,
            "headers": {"messageId": message_id, "contentType": "application/json"},
            "message": reply.message,
            "data": data,
        },
        # ASCII: a lone surrogate in an id or a message is escaped, never an encode error.
        ensure_ascii=True,
    )
