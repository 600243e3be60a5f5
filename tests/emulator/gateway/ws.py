"""Raw Stream-gateway clients for the gateway tests: tickets, a WebSocket, frames and ACKs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from httpx2.websockets import AsyncWebSocketSession

from bridge.emulator.control.views import StreamSettingsView
from bridge.emulator.gateway.frames import ACTION_TOPIC, BOT_TOPIC
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET

JSON_ACCEPT = {"Accept": "application/json"}
"""The header DingTalk's gateway needs before it answers JSON rather than XML."""

QUIET = StreamSettingsView(ping_interval=None, ack_timeout=30.0)
"""No timers firing on their own: each test turns on only what it tests."""


async def open_gateway(
    http: httpx2.AsyncClient, topics: tuple[str, ...] = (BOT_TOPIC, ACTION_TOPIC)
) -> dict[str, Any]:
    """Ask the gateway for a ticket as the default app."""
    response = await http.post(
        "/v1.0/gateway/connections/open",
        json={
            "clientId": DEFAULT_APP,
            "clientSecret": DEFAULT_SECRET,
            "subscriptions": [{"type": "CALLBACK", "topic": t} for t in topics],
            "ua": "tests/1.0",
            "localIp": "10.0.0.5",
        },
        headers=JSON_ACCEPT,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@asynccontextmanager
async def stream(
    http: httpx2.AsyncClient, topics: tuple[str, ...] = (BOT_TOPIC, ACTION_TOPIC)
) -> AsyncIterator[AsyncWebSocketSession]:
    """A raw WebSocket of the default app."""
    opened = await open_gateway(http, topics)
    async with http.websocket(
        opened["endpoint"],
        params={"ticket": opened["ticket"]},
        keepalive_ping_interval_seconds=None,
    ) as ws:
        yield ws


async def receive(ws: AsyncWebSocketSession) -> dict[str, Any]:
    """The next frame, parsed."""
    frame: dict[str, Any] = json.loads(await ws.receive_text(timeout=10))
    return frame


def ack(frame: dict[str, Any], data: Any = None, code: int = 200) -> str:
    """The ACK of ``frame`` as the contract writes it."""
    return json.dumps(
        {
            "code": code,
            "headers": {
                "messageId": frame["headers"]["messageId"],
                "contentType": "application/json",
            },
            "message": "OK",
            "data": data if isinstance(data, str) else json.dumps({"response": data}),
        }
    )


async def refusal(http: httpx2.AsyncClient, ticket: str) -> tuple[int, str, str]:
    """Status, code and message of a refused handshake (read as plain HTTP)."""
    headers = {
        "connection": "upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with http.stream("GET", "/connect", params={"ticket": ticket}, headers=headers) as r:
        await r.aread()
        body = r.json()
    return r.status_code, body["code"], body["message"]
