"""The HTTP doors of ``bridge serve``: signed robot callbacks, AI actions, push, health.

Routes (Starlette):

- ``POST /dingtalk/{assistant}/robot``: a robot message (HTTP callback mode, §6.4).
  ``timestamp``/``sign`` must verify against the assistant's client secret (HMAC-SHA256,
  one-hour window, constant-time compare) **before** the body is read: a bad signature or
  a stale timestamp is a 401 and nothing else happens. A verified pair already seen with
  another ``msgId`` is a replay and a 401 too (``signature.ReplayGuard``).
- ``POST /dingtalk/{assistant}/action``: an AI-assistant action posted over HTTP; DingTalk
  signs nothing here, so it needs the configured bearer token (the action YAML sends it).
- ``POST /dingtalk/{assistant}/card``: a card callback (a stop button pressed, §13),
  enabled by ``[chat] card_callback_secret``: ``x-ddpaas-signature`` must verify against
  it (one-hour window) before the body is read, and a pair seen with another card is a
  replay; the press goes to ``stop`` (``card_callback``) and is answered at once.
- ``POST /v1/push``: run a prompt and send the answer to a user or a group (proactive
  mode, ``bridge.inbound.push``); needs the push bearer token. The answer is 200 only
  when it was delivered; otherwise 502 (or 422 when no surface can reach the target)
  with the reason, or 429 with ``Retry-After`` past the pipeline's bounds (nothing ran).
- ``GET /healthz``, ``/readyz`` and ``/metrics``: liveness with counters, readiness with
  its reasons, Prometheus metrics (``bridge.observe.routes``). They need no token, are
  never held back by the request limit, and listen where the doors do (``[serve] host``).

Every request is checked in this order and stops at the first failure: concurrency (503
with ``Retry-After`` past ``max_requests`` door requests in progress), authentication
(401), size (413, counted while streaming so a huge body is never buffered), time (408
when the body has not arrived within ``body_timeout``), JSON (400: size and depth bounded
before parsing, ``sanitize``), fields (400 naming the field: types, ids, reply URLs on
the allow-list, sane numbers, ``fields``). Accepted work is handed to ``accept`` as a
Turn that carries the assistant's robot code when the message names none, and answered
at once; the answer itself streams to DingTalk later. A Turn the pipeline cannot take
now is a 429 with ``Retry-After`` (busy) or a 503 (shutting down, or the state store
unreachable: with ``Retry-After``).

Every answer that is not a success is JSON ``{"error": reason}``, and every request runs
inside the containment boundary (``boundary``): whatever fails, the sender gets an answer
and the service keeps running.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.admission import Admission, Outcome, Refused
from bridge.config import AssistantConfig
from bridge.dingtalk.signature import ReplayGuard, verify, verify_card
from bridge.errors import InboundError, LLMError, PlatformError
from bridge.inbound.boundary import ContainedRequests, learn
from bridge.inbound.card_callback import ACK, Stop, pressed, read_card_callback
from bridge.inbound.fields import ACTION, BOT_MESSAGE, PUSH, Rules, checked
from bridge.inbound.payloads import turn_from_action, turn_from_bot_message
from bridge.inbound.push import PushRequest, read_push_request
from bridge.inbound.sanitize import clean_line, read_json
from bridge.observe.report import Readiness
from bridge.observe.routes import PROBE_PATHS, Probes, probe_routes
from bridge.turn import Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AssistantDoor:
    """What the HTTP server needs to know about one assistant."""

    name: str
    client_secret: str
    action_token: str | None
    robot_code: str | None = None
    display_names: tuple[str, ...] = ()  # whose @mention leaves the text (inbound.mentions)
    card_secret: str | None = None  # the apiSecret of its card callback registration

    @classmethod
    def from_config(cls, assistant: AssistantConfig) -> AssistantDoor:
        """The door of a configured assistant, its secrets unwrapped."""
        token = assistant.action_token
        card = assistant.chat.card_callback_secret
        return cls(
            name=assistant.name,
            client_secret=assistant.client_secret.get_secret_value(),
            action_token=token.get_secret_value() if token is not None else None,
            robot_code=assistant.robot,
            display_names=assistant.display_names,
            card_secret=card.get_secret_value() if card is not None else None,
        )


class Refusal(InboundError):
    """An ``InboundError`` answered with extra headers (``Retry-After``)."""

    def __init__(self, message: str, *, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(message, status=status)
        self.headers = dict(headers)


Accept = Callable[[Turn], Awaitable[Admission]]
Push = Callable[[PushRequest], Awaitable[dict[str, Any]]]
Health = Callable[[], dict[str, Any]]


def create_http_app(
    *,
    assistants: Mapping[str, AssistantDoor],
    accept: Accept,
    push: Push | None,
    push_token: str | None,
    reply_hosts: tuple[str, ...],
    health: Health,
    max_body_bytes: int = 64 * 1024,
    body_timeout: float = 10.0,
    max_requests: int = 64,
    clock: Callable[[], float] = time.time,
    on_fatal: Callable[[BaseException], None] | None = None,
    readiness: Callable[[], Readiness] | None = None,
    metrics: Callable[[], bytes] | None = None,
    stop: Stop | None = None,
) -> Starlette:
    """The Starlette app of bridge's HTTP doors.

    ``on_fatal`` is told of a ``BaseException`` (not cancellation) a request raised, so
    the service can stop (``boundary``). ``health``, ``readiness`` and ``metrics`` answer
    the probes (without the last two, ``/readyz`` and ``/metrics`` are 404). ``stop``
    takes the stop button's presses.
    """
    probes = Probes(health=health, readiness=readiness, metrics=metrics)
    rules = Rules(reply_hosts=reply_hosts)
    guards = {name: ReplayGuard() for name in assistants}
    card_guards = {name: ReplayGuard() for name in assistants}

    async def read(request: Request) -> dict[str, Any]:
        return read_json(await _read_body(request, max_body_bytes, body_timeout), "body")

    async def robot(request: Request) -> Response:
        door = _door(assistants, request)
        stamp = request.headers.get("timestamp") or ""
        signature = request.headers.get("sign") or ""
        now_ms = int(clock() * 1000)
        verify(stamp, signature, door.client_secret, now_ms=now_ms)
        body = checked(await read(request), BOT_MESSAGE, rules)
        turn = turn_from_bot_message(
            body,
            assistant=door.name,
            source="http_bot",
            received_at=clock(),
            robot_code=door.robot_code,
            display_names=door.display_names,
        )
        learn(turn)
        guards[door.name].check(stamp, signature, str(body["msgId"]), now_ms=now_ms)
        _admitted(await accept(turn))
        return JSONResponse({"msgtype": "empty"})

    async def card(request: Request) -> Response:
        door = _door(assistants, request)
        if door.card_secret is None:
            raise InboundError("HTTP card callbacks are not enabled for this assistant", status=404)
        stamp = request.headers.get("x-ddpaas-signature-timestamp") or ""
        signature = request.headers.get("x-ddpaas-signature") or ""
        now_ms = int(clock() * 1000)
        verify_card(stamp, signature, door.card_secret, now_ms=now_ms)
        pressing = read_card_callback(await read(request))
        named = pressing.out_track_id or pressing.conversation_token or ""
        card_guards[door.name].check(stamp, signature, named, now_ms=now_ms)
        if stop is not None:
            await pressed(pressing, stop)
        return JSONResponse(ACK)

    async def action(request: Request) -> Response:
        door = _door(assistants, request)
        if door.action_token is None:
            raise InboundError("HTTP actions are not enabled for this assistant", status=404)
        _check_bearer(request, door.action_token)
        body = checked(await read(request), ACTION, rules)
        turn = turn_from_action(
            body,
            assistant=door.name,
            source="http_action",
            received_at=clock(),
            robot_code=door.robot_code,
            display_names=door.display_names,
        )
        learn(turn)
        _admitted(await accept(turn))
        return JSONResponse({"accepted": True})

    async def push_route(request: Request) -> Response:
        if push is None or push_token is None:
            raise InboundError("the push API is not enabled", status=404)
        _check_bearer(request, push_token)
        body = checked(await read(request), PUSH, rules)
        pushed = read_push_request(body, assistants)
        try:
            result = await push(pushed)
        except Refused as exc:  # past the bounds: answered like a busy door, nothing ran
            _admitted(exc.admission)
            raise
        except (PlatformError, LLMError) as exc:
            log.warning("push to %s failed: %s", pushed.to, exc)
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=502)
        if result.get("ok"):
            return JSONResponse(result)
        status = 422 if result.get("surface") is None and not result.get("text") else 502
        return JSONResponse({**result, "error": _push_failure(pushed, result)}, status)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InboundError)
        log.warning(
            "refused %s %s from %s: %s (%d)",
            request.method,
            clean_line(request.url.path),  # no forged log lines from a %0A in the path
            request.client.host if request.client else "?",
            exc.message,
            exc.status,
        )
        headers = getattr(exc, "headers", {})
        if exc.status == 408:
            headers = {**headers, "Connection": "close"}  # the rest of the body is not wanted
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    return Starlette(
        routes=[
            Route("/dingtalk/{assistant}/robot", robot, methods=["POST"]),
            Route("/dingtalk/{assistant}/action", action, methods=["POST"]),
            Route("/dingtalk/{assistant}/card", card, methods=["POST"]),
            Route("/v1/push", push_route, methods=["POST"]),
            *probe_routes(lambda: probes),
        ],
        middleware=[
            Middleware(ContainedRequests, on_fatal=on_fatal),
            Middleware(RequestLimit, limit=max_requests, exempt=PROBE_PATHS),
        ],
        exception_handlers={InboundError: refused, HTTPException: http_error},
    )


class RequestLimit:
    """ASGI middleware: at most ``limit`` requests in progress; more get 503 at once.

    Paths in ``exempt`` (the probes) are never limited, so health, readiness and metrics
    stay visible while the doors are saturated.
    """

    def __init__(self, app: ASGIApp, *, limit: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.running = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.running >= self.limit:
            path = clean_line(scope["path"])
            log.warning("%d requests in progress: %s refused", self.running, path)
            response = JSONResponse(
                {"error": f"more than {self.limit} requests in progress"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running -= 1


def _admitted(admission: Admission) -> None:
    """Refuse a Turn the pipeline did not take: 429 when busy, 503 when closing or unavailable."""
    retry = admission.retry_after
    headers = {"Retry-After": str(max(1, math.ceil(retry)))} if retry is not None else {}
    if admission.outcome is Outcome.BUSY:
        headers.setdefault("Retry-After", "1")
        reason = admission.reason or "too many messages waiting"
        raise Refusal(reason, status=429, headers=headers)
    if admission.outcome in (Outcome.CLOSED, Outcome.UNAVAILABLE):
        reason = admission.reason or "bridge is shutting down"
        raise Refusal(reason, status=503, headers=headers)


def _push_failure(request: PushRequest, result: Mapping[str, Any]) -> str:
    if result.get("error"):
        return f"the answer failed: {result['error']}"
    if result.get("surface") is None and not result.get("text"):
        return f"no surface can reach {request.to}: check [delivery] prefer"
    return "the answer could not be delivered"


def _door(assistants: Mapping[str, AssistantDoor], request: Request) -> AssistantDoor:
    name = request.path_params["assistant"]
    door = assistants.get(name)
    if door is None:
        raise InboundError(f"no assistant named {name!r}", status=404)
    return door


def _check_bearer(request: Request, token: str) -> None:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode("utf-8", "replace"), token.encode()
    ):
        raise InboundError("missing or wrong bearer token", status=401)


async def _read_body(request: Request, limit: int, within: float) -> bytes:
    declared = request.headers.get("content-length") or ""
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise InboundError(f"body larger than {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(within):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise InboundError(f"body larger than {limit} bytes", status=413)
            chunks.append(chunk)
        return b"".join(chunks)
    raise InboundError(f"body not received within {within:g} s", status=408)
