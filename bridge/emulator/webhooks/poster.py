"""HTTP callbacks (contract §6.4, §6.5): the emulator posting inbound messages to an app's URLs.

An app registers a robot URL (the bridge's ``/dingtalk/<assistant>/robot``) and an action
URL (``/dingtalk/<assistant>/action``) with the bearer token its action YAML would send.
``build_request`` (pure) renders one callback: the robot door gets the ChatbotMessage
with ``timestamp`` (ms, emulated clock: it is the platform's time) and ``sign``
(``signature.sign``, §6.4); the action door gets the action parameters with
``Authorization: Bearer <token>``. A ``variant`` spoils one
thing on purpose so a receiver's refusals can be tested end to end:

``bad_signature``  signed with the wrong secret (action door: the wrong bearer token)
``stale``          timestamp two hours old, correctly signed (robot door only)
``unsigned``       no ``timestamp``/``sign`` (action door: no ``Authorization``)
``malformed``      the body is not JSON
``oversize``       the text padded past ``OVERSIZE_BYTES``
``off_host``       the reply sessionWebhook points at a host off the allow-list

``post`` sends it with a given ``httpx2.AsyncClient`` and ``Callbacks`` keeps what the
receiver answered (published as ``callback.posted``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx2

from bridge.emulator.control.views import (
    CallbackDoor,
    CallbacksView,
    CallbackVariant,
    CallbackView,
    EventView,
)
from bridge.emulator.errors import EmulatorError
from bridge.emulator.webhooks.signature import sign
from bridge.emulator.world.bus import EventBus

OVERSIZE_BYTES = 1024 * 1024
STALE_MS = 2 * 3600 * 1000
OFF_HOST = "https://off-host.invalid"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Registration:
    """Where an app wants its HTTP callbacks."""

    client_id: str
    robot_url: str | None = None
    action_url: str | None = None
    action_token: str | None = None

    def url(self, door: CallbackDoor) -> str | None:
        """The URL registered for ``door``."""
        return self.robot_url if door == "robot" else self.action_url

    def view(self) -> CallbacksView:
        """The control-API shape (never the token)."""
        return CallbacksView(
            client_id=self.client_id,
            robot_url=self.robot_url,
            action_url=self.action_url,
            action_token_set=self.action_token is not None,
        )


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """One rendered callback, ready to post."""

    door: CallbackDoor
    variant: CallbackVariant | Literal["raw"]
    url: str
    headers: dict[str, str]
    body: bytes


def off_host(url: str) -> str:
    """The same path and query on a host no allow-list contains."""
    _, _, rest = url.partition("://")
    _, slash, path = rest.partition("/")
    return f"{OFF_HOST}{slash}{path}"


def build_request(
    registration: Registration,
    door: CallbackDoor,
    payload: dict[str, Any],
    *,
    variant: CallbackVariant,
    secret: str,
    now_ms: int,
) -> CallbackRequest:
    """Render a callback of ``payload`` (ChatbotMessage or action parameters)."""
    url = _url(registration, door)
    payload = dict(payload)
    if variant == "off_host" and payload.get("sessionWebhook"):
        payload["sessionWebhook"] = off_host(str(payload["sessionWebhook"]))
    if variant == "oversize":
        _pad(payload, door)
    body = json.dumps(payload, ensure_ascii=False).encode()
    if variant == "malformed":
        body = body[: max(1, len(body) // 2)]  # cut mid-object: never valid JSON
    headers = {"content-type": JSON_TYPE}
    if door == "robot":
        if variant == "stale":
            now_ms -= STALE_MS
        if variant != "unsigned":
            key = f"{secret}-wrong" if variant == "bad_signature" else secret
            headers["timestamp"] = str(now_ms)
            headers["sign"] = sign(now_ms, key)
    else:
        if variant == "stale":
            raise EmulatorError("the action door has no timestamp: 'stale' is robot-only")
        token = registration.action_token
        if variant == "bad_signature":
            token = f"{token or ''}-wrong"
        if token is not None and variant != "unsigned":
            headers["authorization"] = f"Bearer {token}"
    return CallbackRequest(door, variant, url, headers, body)


def raw_request(
    registration: Registration,
    door: CallbackDoor,
    body: str,
    headers: dict[str, str],
    *,
    signed: bool,
    secret: str,
    now_ms: int,
) -> CallbackRequest:
    """Arbitrary text and headers to a registered URL, optionally with valid credentials."""
    url = _url(registration, door)
    sent = {"content-type": JSON_TYPE}
    if signed and door == "robot":
        sent |= {"timestamp": str(now_ms), "sign": sign(now_ms, secret)}
    elif signed and registration.action_token is not None:
        sent["authorization"] = f"Bearer {registration.action_token}"
    sent |= {k.lower(): v for k, v in headers.items()}
    return CallbackRequest(door, "raw", url, sent, body.encode())


def _url(registration: Registration, door: CallbackDoor) -> str:
    url = registration.url(door)
    if url is None:
        raise EmulatorError(f"app {registration.client_id!r} has no {door} URL", status=409)
    return url


def _pad(payload: dict[str, Any], door: CallbackDoor) -> None:
    filler = "x" * OVERSIZE_BYTES
    if door == "action":
        payload["rawInput"] = f"{payload.get('rawInput', '')}{filler}"
    else:
        text = payload.get("text")
        content = text.get("content", "") if isinstance(text, dict) else ""
        payload["text"] = {"content": f"{content}{filler}"}


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver said: a status and body, or why it could not be reached."""

    status: int | None
    response: Any = None
    error: str | None = None


async def post(client: httpx2.AsyncClient, request: CallbackRequest) -> Answer:
    """POST the callback; the receiver's answer (a connection failure is an answer too)."""
    try:
        response = await client.post(request.url, content=request.body, headers=request.headers)
    except httpx2.HTTPError as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}")
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body)


class Callbacks:
    """Registered callback URLs and the log of callbacks posted."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._registrations: dict[str, Registration] = {}
        self._log: list[CallbackView] = []

    def register(
        self,
        client_id: str,
        *,
        robot_url: str | None,
        action_url: str | None,
        action_token: str | None,
    ) -> Registration:
        """Set (replace) an app's callback URLs."""
        registration = Registration(client_id, robot_url, action_url, action_token)
        self._registrations[client_id] = registration
        return registration

    def registration(self, client_id: str) -> Registration:
        """The app's registration (empty when it registered nothing)."""
        return self._registrations.get(client_id) or Registration(client_id)

    def record(self, client_id: str, request: CallbackRequest, answer: Answer) -> CallbackView:
        """Log one posted callback and publish it."""
        view = CallbackView(
            seq=len(self._log) + 1,
            client_id=client_id,
            door=request.door,
            variant=request.variant,
            url=request.url,
            headers=dict(request.headers),
            body_bytes=len(request.body),
            status=answer.status,
            response=answer.response,
            error=answer.error,
            at=time.time(),
        )
        self._log.append(view)
        self._bus.publish(EventView(type="callback.posted", callback=view))
        return view

    def since(self, seq: int = 0) -> list[CallbackView]:
        """Callbacks posted after ``seq``, oldest first."""
        return [c for c in self._log if c.seq > seq]
