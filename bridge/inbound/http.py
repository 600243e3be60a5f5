"""The HTTP doors of ``bridge serve``: signed robot callbacks, AI actions, push, health.

Routes (Starlette):

- ``POST /dingtalk/{assistant}/robot``: a robot message (HTTP callback mode, §6.4).
  ``timestamp``/``sign`` must verify against the assistant's client secret (HMAC-SHA256,
  one-hour window, constant-time compare) **before** the body is read: a bad signature or
  a stale timestamp is a 401 and nothing else happens.
- ``POST /dingtalk/{assistant}/action``: an AI-assistant action posted over HTTP; DingTalk
  signs nothing here, so it needs the configured bearer token (the action YAML sends it).
- ``POST /v1/push``: run a prompt and send the answer to a user or a group (proactive
  mode, ``bridge.inbound.push``); needs the push bearer token.
- ``GET /healthz``: liveness plus a few counters.

Every request is checked in this order and stops at the first failure: authentication
(401), size (413, counted while streaming so a huge body is never buffered), JSON (400),
fields (400), reply-URL hosts (400: a message may only make bridge POST to allow-listed
hosts). Accepted work is handed to ``accept`` as a Turn that carries the assistant's
robot code when the message names none, and answered at once; the answer itself
streams to DingTalk later.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.admission import Admission
from bridge.config import AssistantConfig
from bridge.dingtalk.signature import verify
from bridge.errors import InboundError
from bridge.inbound.payloads import (
    check_reply_hosts,
    parse_json_object,
    require_taken,
    turn_from_action,
    turn_from_bot_message,
)
from bridge.inbound.push import PushRequest, read_push_request
from bridge.turn import Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AssistantDoor:
    """What the HTTP server needs to know about one assistant."""

    name: str
    client_secret: str
    action_token: str | None
    robot_code: str | None = None

    @classmethod
    def from_config(cls, assistant: AssistantConfig) -> AssistantDoor:
        """The door of a configured assistant, its secrets unwrapped."""
        token = assistant.action_token
        return cls(
            name=assistant.name,
            client_secret=assistant.client_secret.get_secret_value(),
            action_token=token.get_secret_value() if token is not None else None,
            robot_code=assistant.robot,
        )


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
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The Starlette app of bridge's HTTP doors."""

    async def robot(request: Request) -> Response:
        door = _door(assistants, request)
        verify(
            request.headers.get("timestamp"),
            request.headers.get("sign"),
            door.client_secret,
            now_ms=int(clock() * 1000),
        )
        body = parse_json_object(await _read_body(request, max_body_bytes), "body")
        turn = turn_from_bot_message(
            body,
            assistant=door.name,
            source="http_bot",
            received_at=clock(),
            robot_code=door.robot_code,
        )
        check_reply_hosts(turn, reply_hosts)
        require_taken(await accept(turn))
        return JSONResponse({"msgtype": "empty"})

    async def action(request: Request) -> Response:
        door = _door(assistants, request)
        if door.action_token is None:
            raise InboundError("HTTP actions are not enabled for this assistant", status=404)
        _check_bearer(request, door.action_token)
        body = parse_json_object(await _read_body(request, max_body_bytes), "body")
        turn = turn_from_action(
            body,
            assistant=door.name,
            source="http_action",
            received_at=clock(),
            robot_code=door.robot_code,
        )
        check_reply_hosts(turn, reply_hosts)
        require_taken(await accept(turn))
        return JSONResponse({"accepted": True})

    async def push_route(request: Request) -> Response:
        if push is None or push_token is None:
            raise InboundError("the push API is not enabled", status=404)
        _check_bearer(request, push_token)
        body = parse_json_object(await _read_body(request, max_body_bytes), "body")
        result = await push(read_push_request(body, assistants))
        return JSONResponse(result)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", **health()})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InboundError)
        log.warning(
            "refused %s %s from %s: %s (%d)",
            request.method,
            request.url.path,
            request.client.host if request.client else "?",
            exc.message,
            exc.status,
        )
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    return Starlette(
        routes=[
            Route("/dingtalk/{assistant}/robot", robot, methods=["POST"]),
            Route("/dingtalk/{assistant}/action", action, methods=["POST"]),
            Route("/v1/push", push_route, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={InboundError: refused},
    )


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
        value.strip().encode(), token.encode()
    ):
        raise InboundError("missing or wrong bearer token", status=401)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InboundError(f"body larger than {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InboundError(f"body larger than {limit} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)
