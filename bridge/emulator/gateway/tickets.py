"""Stream gateway tickets (operation M): who may open a Stream WebSocket, once, for 90 s.

``POST /v1.0/gateway/connections/open`` checks an app's Client ID and Secret and the
subscriptions it asks for, and hands out a ticket; the WebSocket handshake redeems it.
A ticket is single-use and expires on the emulated clock (``advance_clock`` ages it).
The refusals are the platform's v1.0 errors (the gateway answers 400 for a bad secret,
like operation A) and, at the handshake, an HTTP 403 (see ``routes``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.emulator.errors import Rejection, bad_request
from bridge.emulator.openapi.apps import Apps
from bridge.emulator.world.clock import EmulatorClock

SUBSCRIPTION_TYPES = ("EVENT", "CALLBACK", "SYSTEM")


@dataclass
class Ticket:
    """A gateway ticket: single use, valid until ``expires_at`` (emulated epoch seconds)."""

    value: str
    client_id: str
    topics: tuple[str, ...]
    ua: str
    local_ip: str
    expires_at: float
    used: bool = False


def invalid_ticket(why: str) -> Rejection:
    """The handshake refusal for a ticket that cannot be used."""
    return Rejection(403, "invalidTicket", why)


class Tickets:
    """Issues and redeems tickets."""

    def __init__(self, apps: Apps, clock: EmulatorClock, lifetime: Callable[[], float]) -> None:
        self._apps = apps
        self._clock = clock
        self._lifetime = lifetime
        self._tickets: dict[str, Ticket] = {}

    def open(self, body: dict[str, Any], endpoint: str) -> dict[str, Any]:
        """Check ``{clientId, clientSecret, subscriptions[], ua?, localIp?}``; issue a ticket.

        ``clientId``, ``clientSecret`` and a non-empty ``subscriptions`` list of
        ``{type, topic}`` are required; ``ua`` and ``localIp`` are informational.
        """
        client_id = body.get("clientId")
        secret = body.get("clientSecret")
        subscriptions = body.get("subscriptions")
        if not isinstance(client_id, str) or not client_id:
            raise bad_request("invalidParameter", "clientId is required")
        if not isinstance(secret, str) or not secret:
            raise bad_request("invalidParameter", "clientSecret is required")
        if not isinstance(subscriptions, list) or not subscriptions:
            raise bad_request("invalidParameter", "subscriptions must be a non-empty list")
        topics: list[str] = []
        for item in subscriptions:
            topic = item.get("topic") if isinstance(item, dict) else None
            kind = item.get("type") if isinstance(item, dict) else None
            if not isinstance(topic, str) or not topic or kind not in SUBSCRIPTION_TYPES:
                raise bad_request("invalidParameter", "each subscription needs a type and a topic")
            topics.append(topic)
        app = self._apps.apps.get(client_id)
        if app is None or app.client_secret != secret:
            raise bad_request("invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        ua, local_ip = body.get("ua"), body.get("localIp")
        ticket = Ticket(
            value=secrets.token_hex(16),
            client_id=app.client_id,
            topics=tuple(topics),
            ua=ua if isinstance(ua, str) else "",
            local_ip=local_ip if isinstance(local_ip, str) else "",
            expires_at=self._clock.now() + self._lifetime(),
        )
        self._tickets[ticket.value] = ticket
        return {"endpoint": endpoint, "ticket": ticket.value}

    def redeem(self, value: str | None) -> Ticket:
        """Use a ticket up: unknown, used or expired ones are refused."""
        ticket = self._tickets.get(value or "")
        if ticket is None:
            raise invalid_ticket("unknown ticket")
        if ticket.used:
            raise invalid_ticket("ticket already used")
        if ticket.expires_at <= self._clock.now():
            raise invalid_ticket("ticket expired")
        ticket.used = True
        return ticket
