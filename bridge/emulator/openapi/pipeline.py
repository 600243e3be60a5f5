"""The one path every emulated platform request takes, from bytes in to call log entry.

For each request: parse the JSON body, draw a fault (its latency first, then its error),
identify the caller (access token, app key or session webhook), apply the per-app QPS
window and monthly quota, run the operation, and render the answer in the operation's
error style: v1.0 ``{"requestid","code","message"}`` with a 4xx/5xx, or a webhook's
HTTP 200 ``{"errcode","errmsg"}``. Whatever happens, the call is logged once.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge.dingtalk.operations import ENDPOINTS, Operation
from bridge.emulator.control.views import FaultSpec
from bridge.emulator.errors import MALFORMED, TOO_FAST, Rejection, bad_request, webhook_error
from bridge.emulator.openapi.apps import App, invalid_authentication
from bridge.emulator.openapi.faults import qps_exceeded, quota_exceeded
from bridge.emulator.openapi.robots import Session
from bridge.emulator.state import Emulator

Style = Literal["openapi", "webhook"]
TOKEN_HEADER = "x-acs-dingtalk-access-token"
JSON_TYPE = "application/json;charset=utf-8"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the app, and for a webhook the session it names."""

    app: App | None
    session: Session | None = None


Identify = Callable[[Emulator, Request, Any], Caller]
Action = Callable[[Emulator, Caller, dict[str, Any]], dict[str, Any]]


def by_access_token(emulator: Emulator, request: Request, body: Any) -> Caller:
    """The app owning the ``x-acs-dingtalk-access-token`` header."""
    del body
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


def by_app_key(emulator: Emulator, request: Request, body: Any) -> Caller:
    """The app named by ``appKey`` in the body (checked by the operation itself)."""
    del request
    app_key = body.get("appKey") if isinstance(body, dict) else None
    return Caller(emulator.apps.apps.get(app_key) if isinstance(app_key, str) else None)


def by_session(kind: Literal["robot", "ai"]) -> Identify:
    """The app of the session webhook named in ``?session=``."""

    def identify(emulator: Emulator, request: Request, body: Any) -> Caller:
        del body
        session = emulator.robots.session(request.query_params.get("session"), kind)
        return Caller(emulator.apps.apps.get(session.client_id), session)

    return identify


async def answer(
    emulator: Emulator,
    request: Request,
    operation: Operation,
    identify: Identify,
    action: Action,
    style: Style = "openapi",
) -> Response:
    """Run one platform request through faults, auth, limits and the operation; log it."""
    started = time.monotonic()
    at = time.time()
    raw = await request.body()
    body = _decode(raw)
    request_id = secrets.token_hex(16).upper()
    fault = emulator.faults.draw(operation)
    if fault is not None and fault.spec.latency:
        await anyio.sleep(fault.spec.latency)
    try:
        caller, refused = identify(emulator, request, body), None
    except Rejection as rejection:
        caller, refused = Caller(None), rejection
    if fault is not None and fault.spec.status is not None:
        # An injected fault wins over everything, but the log still names the caller.
        status, payload, error_code = _fault_answer(fault.spec, style, request_id)
    else:
        try:
            if refused is not None:
                raise refused
            payload = _serve(emulator, caller, operation, action, style, body)
            status, error_code = 200, None
        except Rejection as rejection:
            status, error_code = rejection.status, rejection.code
            payload = _error_body(rejection, style, request_id)
    emulator.calls.record(
        operation=operation,
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
    emulator: Emulator,
    caller: Caller,
    operation: Operation,
    action: Action,
    style: Style,
    body: Any,
) -> dict[str, Any]:
    """Check the body and the limits, then do the operation's work."""
    if not isinstance(body, dict):
        if style == "webhook":
            raise webhook_error(MALFORMED, "缺少参数 json")
        raise bad_request("InvalidParameter", "the request body must be a JSON object")
    if caller.app is not None:
        _admit(emulator, caller.app, operation, style)
    return action(emulator, caller, body)


def _fault_answer(spec: FaultSpec, style: Style, request_id: str) -> tuple[int, Any, str]:
    """Status, body and error code of a fired fault."""
    status = spec.status or 500
    if spec.body is not None:
        return status, spec.body, spec.code
    rejection = Rejection(status, spec.code, spec.message, errcode=_as_errcode(spec.code))
    return status, _error_body(rejection, style, request_id), spec.code


def _admit(emulator: Emulator, app: App, operation: Operation, style: Style) -> None:
    """QPS first (a rejected call takes no slot), then the monthly quota of OpenAPI calls."""
    if not emulator.rate_limiter.admit(app.client_id, operation, emulator.limits):
        raise webhook_error(TOO_FAST, "send too fast") if style == "webhook" else qps_exceeded()
    if style == "openapi" and ENDPOINTS[operation].authenticated:
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
