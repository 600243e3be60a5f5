"""Containment: each inbound request and frame is a unit of work that cannot stop the service.

A door runs every request (HTTP) or frame (Stream) inside ``arriving``, which binds an
``Arrival``: what is known about the delivery so far (door, assistant, conversation,
message id), filled in by the door as it learns it (``learn``). When the work fails:

- an ``InboundError`` is a refusal the door meant (bad signature, bad field, busy): it
  is answered with its status and logged as one warning line;
- any other ``Exception`` is a bug or an input nobody foresaw: ``report`` logs it once,
  with its traceback and the Arrival's ids, the sender gets a 500 (HTTP: a JSON
  ``{"error": …}``; Stream: an ACK with code 500), and the service goes on;
- a ``BaseException`` (cancellation, ``KeyboardInterrupt``, ``SystemExit``) is never
  swallowed: cancellation must propagate, and the others stop the process, through the
  usual clean shutdown (a Stream frame's reaches ``Bridge.serve`` by itself; uvicorn
  would log and swallow a request's, so ``ContainedRequests`` hands it to ``on_fatal``
  first, which stops the service and re-raises it there).

``ContainedRequests`` is the HTTP side: an ASGI middleware that answers any escaped
exception with a JSON 500, and a client that went away with nothing at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.errors import InboundError
from bridge.inbound.sanitize import clean_line
from bridge.turn import Turn

__all__ = ["Arrival", "ContainedRequests", "arriving", "learn", "report"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Arrival:
    """What is known about one inbound delivery, for the log line if it fails."""

    door: str
    delivery: str = ""
    assistant: str = ""
    conversation: str = ""

    def __str__(self) -> str:
        known = [
            f"{name}={value}"
            for name in ("assistant", "conversation", "delivery")
            if (value := getattr(self, name))
        ]
        return f"{self.door} [{' '.join(known)}]" if known else self.door


_current: ContextVar[Arrival | None] = ContextVar("bridge_inbound_arrival", default=None)


@contextmanager
def arriving(door: str, delivery: str = "") -> Iterator[Arrival]:
    """Bind a fresh Arrival for the work inside the block."""
    arrival = Arrival(door, delivery)
    token = _current.set(arrival)
    try:
        yield arrival
    finally:
        _current.reset(token)


def learn(turn: Turn) -> None:
    """Note the Turn's ids on the current Arrival (if any), for a failure's log line."""
    arrival = _current.get()
    if arrival is not None:
        arrival.assistant = turn.assistant
        arrival.conversation = turn.conversation_key
        arrival.delivery = ",".join(turn.delivery_ids) or arrival.delivery


def report(arrival: Arrival, error: Exception) -> None:
    """Log a failed unit of inbound work once: a refusal as a line, anything else in full."""
    if isinstance(error, InboundError):
        log.warning("%s refused: %s (%d)", arrival, error.message, error.status)
    else:
        log.error(
            "%s failed: %s: %s; the service goes on",
            arrival,
            type(error).__name__,
            error,
            exc_info=error,
        )


class ContainedRequests:
    """ASGI middleware: every HTTP request runs inside the boundary (see the module doc).

    ``on_fatal`` learns of a ``BaseException`` other than cancellation before it goes
    on to uvicorn (which would only log it).
    """

    def __init__(
        self, app: ASGIApp, *, on_fatal: Callable[[BaseException], None] | None = None
    ) -> None:
        self.app = app
        self.on_fatal = on_fatal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with arriving(f"{scope['method']} {clean_line(scope['path'])}") as arrival:
            try:
                await self.app(scope, receive, tracked)
            except ClientDisconnect:
                log.info("%s: the client went away before its request was read", arrival)
            except Exception as exc:  # noqa: BLE001 - the boundary of one request (module doc)
                report(arrival, exc)
                if not started:
                    await _send_json(send, 500, {"error": "internal error; see bridge's log"})
            except BaseException as exc:
                if not isinstance(exc, anyio.get_cancelled_exc_class()):
                    log.critical("%s: %s ends the service", arrival, type(exc).__name__)
                    if self.on_fatal is not None:
                        self.on_fatal(exc)
                raise


async def _send_json(send: Send, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
