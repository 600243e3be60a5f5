"""The one path every emulated platform request takes, from bytes in to call log entry.

``endpoint_route`` puts a handler where the endpoint table (``endpoints.ENDPOINTS``) says
an API lives, and ``served`` makes the whole route of an API from its action. For each
request ``answer`` parses the JSON body, draws a fault (its latency first, then its
error), identifies the caller by the endpoint's credential (access token, app key, Client
ID or session webhook), applies the per-app QPS window and monthly quota, runs the
action, and renders the answer in the host's error style: v1.0 ``{"requestid","code",
"message"}`` with a 4xx/5xx, or a webhook's HTTP 200 ``{"errcode","errmsg"}``. Whatever
happens to a request that arrives whole, the call is logged once; one whose caller hangs
up mid-body is dropped unlogged, as a real server would.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.emulator.control.views import FaultSpec
from bridge.emulator.errors import MALFORMED, TOO_FAST, Rejection, bad_request, webhook_error
from bridge.emulator.openapi.apps import App, invalid_authentication
from bridge.emulator.openapi.endpoints import ENDPOINTS, Api, Credential, Host
from bridge.emulator.openapi.faults import qps_exceeded, quota_exceeded
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.sessions import Session

Style = Literal["openapi", "webhook"]
TOKEN_HEADER = "x-acs-dingtalk-access-token"
JSON_TYPE = "application/json;charset=utf-8"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the app, and for a webhook the session it names."""

    app: App | None
    session: Session | None = None


Identify = Callable[[Emulator, Request, Any, Api], Caller]
Action = Callable[[Emulator, Caller, dict[str, Any]], dict[str, Any]]
Handler = Callable[[Request], Awaitable[Response]]


def by_access_token(emulator: Emulator, request: Request, body: Any, api: Api) -> Caller:
    """The app owning the ``x-acs-dingtalk-access-token`` header."""
    del body, api
    token = request.headers.get(TOKEN_HEADER)
    if token is None:
        bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
        if "access_token" in request.query_params or bearer:
            raise bad_request(
                "AuthenticationFailed.MissingParameter",
                f"access token must be sent in the {TOKEN_HEADER} header",
            )
        raise invalid_authentication()
    return Caller(emulator.apps.authenticate(token))


def _named_in_body(key: str) -> Identify:
    """The app named by ``key`` in the body; the action itself checks the secret."""

    def identify(emulator: Emulator, request: Request, body: Any, api: Api) -> Caller:
        del request, api
        client_id = body.get(key) if isinstance(body, dict) else None
        return Caller(emulator.apps.apps.get(client_id) if isinstance(client_id, str) else None)

    return identify


def by_session(emulator: Emulator, request: Request, body: Any, api: Api) -> Caller:
    """The app of the session webhook named in ``?session=``, answered on ``api``."""
    del body
    session = emulator.sessions.session(request.query_params.get("session"), api)
    return Caller(emulator.apps.apps.get(session.client_id), session)


IDENTIFY: dict[Credential, Identify] = {
    Credential.ACCESS_TOKEN: by_access_token,
    Credential.APP_KEY: _named_in_body("appKey"),
    Credential.CLIENT_ID: _named_in_body("clientId"),
    Credential.SESSION: by_session,
}
"""How the caller of an endpoint is found, by the credential the endpoint table names."""


def endpoint_route(api: Api, handler: Handler) -> Route:
    """A route serving ``handler`` at the method and path the endpoint table gives ``api``."""
    endpoint = ENDPOINTS[api]
    return Route(endpoint.path, handler, methods=[endpoint.method], name=api.value)


def served(emulator: Emulator, api: Api, action: Action) -> Route:
    """The route of ``api``: every request runs through ``answer`` into ``action``."""

    async def handle(request: Request) -> Response:
        return await answer(emulator, request, api, action)

    return endpoint_route(api, handle)


async def answer(emulator: Emulator, request: Request, api: Api, action: Action) -> Response:
    """Run one platform request through faults, auth, limits and the action; log it."""
    endpoint = ENDPOINTS[api]
    style: Style = "webhook" if endpoint.host is Host.WEBHOOK else "openapi"
    started = time.monotonic()
    at = time.time()
    try:
        raw = await request.body()
    except ClientDisconnect:
        # The caller gave up (its own timeout) before its request arrived whole: DingTalk
        # never sees such a request, so nothing is served or logged, and nobody reads 499.
        return Response(status_code=499)
    body = _decode(raw)
    request_id = secrets.token_hex(16).upper()
    fault = emulator.faults.draw(api)
    if fault is not None and fault.spec.latency:
        await anyio.sleep(fault.spec.latency)
    try:
        caller, refused = IDENTIFY[endpoint.credential](emulator, request, body, api), None
    except Rejection as rejection:
        caller, refused = Caller(None), rejection
    if fault is not None and fault.spec.status is not None:
        # An injected fault wins over everything, but the log still names the caller.
        status, payload, error_code = _fault_answer(fault.spec, style, request_id)
    else:
        try:
            if refused is not None:
                raise refused
            payload = _serve(emulator, caller, api, action, style, body)
            status, error_code = 200, None
        except Rejection as rejection:
            status, error_code = rejection.status, rejection.code
            payload = _error_body(rejection, style, request_id)
    emulator.calls.record(
        operation=api,
        app=caller.app.client_id if caller.app else None,
        method=request.method,
        path=request.url.path,
        request=body,
        status=status,
        response=payload,
        error_code=error_code,
        latency=time.monotonic() - started,
        at=at,
    )
    return JSONResponse(
        payload, status_code=status, media_type=JSON_TYPE, headers={"x-acs-request-id": request_id}
    )


def _serve(
    emulator: Emulator, caller: Caller, api: Api, action: Action, style: Style, body: Any
) -> dict[str, Any]:
    """Check the body and the limits, then do the API's work."""
    if not isinstance(body, dict):
        if style == "webhook":
            raise webhook_error(MALFORMED, "缺少参数 json")
        raise bad_request("InvalidParameter", "the request body must be a JSON object")
    if caller.app is not None:
        _admit(emulator, caller.app, api, style)
    return action(emulator, caller, body)


def _fault_answer(spec: FaultSpec, style: Style, request_id: str) -> tuple[int, Any, str]:
    """Status, body and error code of a fired fault."""
    status = spec.status or 500
    if spec.body is not None:
        return status, spec.body, spec.code
    rejection = Rejection(status, spec.code, spec.message, errcode=_as_errcode(spec.code))
    return status, _error_body(rejection, style, request_id), spec.code


def _admit(emulator: Emulator, app: App, api: Api, style: Style) -> None:
    """QPS first (a rejected call takes no slot), then the monthly quota of token calls."""
    if not emulator.rate_limiter.admit(app.client_id, api, emulator.limits):
        raise webhook_error(TOO_FAST, "send too fast") if style == "webhook" else qps_exceeded()
    if ENDPOINTS[api].authenticated:
        if app.monthly_quota is not None and app.calls_this_month >= app.monthly_quota:
            raise quota_exceeded()
        app.calls_this_month += 1


def _decode(raw: bytes) -> Any:
    """The JSON body, or the raw text when it is not JSON (kept for the call log)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _as_errcode(code: str) -> int:
    try:
        return int(code)
    except ValueError:
        return -1


def _error_body(rejection: Rejection, style: Style, request_id: str) -> dict[str, Any]:
    if style == "webhook":
        errcode = rejection.errcode if rejection.errcode is not None else -1
        return {"errcode": errcode, "errmsg": rejection.message}
    return {"requestid": request_id, "code": rejection.code, "message": rejection.message}
