"""DingTalk's error answers, mapped onto bridge's error tree (wire contract §2, §5).

The client hands every answer to ``read_answer``, which decodes a success and raises
the typed error of anything else; nothing else in bridge looks at an error body.
Three shapes exist:

* v1.0 JSON errors, with ``code|Code``, ``message|Message``, ``requestid|RequestId``;
* an IP ban: ``{"status": 1111, "wait": 5, "punish": "deny"}`` or an HTML page with 403;
* webhooks, which answer HTTP 200 with ``errcode`` (0 = ok, 300001 = session expired).

Transport failures (connect errors, timeouts) become ``PlatformUnavailable`` as well, so
the retry policy decides on one error type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2

from bridge.dingtalk.operations import Endpoint, Operation
from bridge.dingtalk.wire import decode_json
from bridge.errors import (
    InvalidConversationToken,
    PlatformAuthError,
    PlatformError,
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformRejected,
    PlatformUnavailable,
    PlatformUnreachable,
    SessionExpired,
)

__all__ = [
    "SESSION_EXPIRED_ERRCODE",
    "check_webhook",
    "error_from_response",
    "is_token_error",
    "read_answer",
    "unavailable",
    "unreachable",
]

SESSION_EXPIRED_ERRCODE = 300001

# Legacy numeric codes of the same limits (90018 per app and API, 90002 platform-wide),
# and the robot send APIs' throttles (400 send.too.fast, send.byToken.tooFast,
# toomuch.msg: §15): refused unexecuted, so as safe to wait out as a QpsLimit.
_RATE_LIMIT_CODES = (
    "QpsLimit",
    "QpmLimit",
    "Throttling",
    "90018",
    "90002",
    "send.too.fast",
    "tooFast",
    "toomuch.msg",
)
_AUTH_CODES = ("InvalidAuthentication", "invalidClientIdOrSecret", "AuthenticationFailed")
_TOKEN_CODES = ("InvalidAuthentication",)
# Webhook errcodes for "sending too fast" (custom-robot limits).
_WEBHOOK_RATE_LIMIT_ERRCODES = ("130101", "410100", "90018", "90002")


def _first(body: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = body.get(key)
        if value is not None and value != "":
            return str(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def error_from_response(
    operation: Operation,
    status: int,
    body: bytes,
    *,
    request_id: str | None = None,
    retry_after: str | None = None,
) -> PlatformError:
    """The typed error for a non-2xx answer of ``operation``.

    ``request_id`` and ``retry_after`` are the response headers of those names, used
    when the body does not carry its own.
    """
    op = operation.value
    decoded = decode_json(body)
    data: Mapping[str, Any] = decoded if isinstance(decoded, dict) else {}
    hint = _number(retry_after)

    if data.get("punish") is not None or (data.get("status") == 1111):
        wait = _number(data.get("wait"))
        return PlatformRateLimited(
            f"the caller's IP is banned (punish: {data.get('punish')})",
            operation=op,
            status=status,
            code=str(data.get("status", "punish")),
            retry_after=wait if wait is not None else hint,
        )

    code = _first(data, "code", "Code")
    message = _first(data, "message", "Message", "description", "errmsg")
    rid = _first(data, "requestid", "RequestId", "requestId") or request_id
    text = message or (f"HTTP {status}" if data or not body.strip() else _snippet(body))
    args: dict[str, Any] = {"operation": op, "status": status, "code": code, "request_id": rid}

    if status == 403 and not data:
        # A ban page is HTML, not the error JSON (§2); nothing else answers 403 like that.
        return PlatformRateLimited(
            "the caller's IP is banned (non-JSON 403)", retry_after=hint, **args
        )
    if code is not None and any(mark in code for mark in _RATE_LIMIT_CODES):
        return PlatformRateLimited(text, retry_after=hint, **args)
    if status == 429:
        return PlatformRateLimited(text, retry_after=hint, **args)
    if operation is Operation.GATEWAY_OPEN and status in (400, 401, 403):
        # The gateway checks only the app's credentials and subscriptions (§6.1): a
        # refusal will not go away by retrying, and the Stream loop backs off slowly on it.
        return PlatformAuthError(text, **args)
    if code is not None and "ApiCountLimit" in code:
        return PlatformQuotaExceeded(text, **args)
    if status == 401 or (code is not None and any(mark in code for mark in _AUTH_CODES)):
        return PlatformAuthError(text, **args)
    if status == 403 or (code is not None and code.startswith("Forbidden")):
        return PlatformPermissionDenied(text, **args)
    if code == "invalid.conversation.token":
        return InvalidConversationToken(text, **args)
    if message is not None and "ai assistant not found" in message.lower():
        # The token belongs to another app: a setup problem, not a bad request (§1).
        return PlatformPermissionDenied(text, **args)
    if status >= 500 or code == "system.error":
        return PlatformUnavailable(text, **args)
    return PlatformRejected(text, **args)


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text[:120] + ("…" if len(text) > 120 else "")


def is_token_error(error: PlatformError) -> bool:
    """True when refreshing the access token and trying once more may help (§2)."""
    if not isinstance(error, PlatformAuthError):
        return False
    if error.status == 401:
        return True
    return error.code is not None and error.code in _TOKEN_CODES


def check_webhook(operation: Operation, body: bytes) -> None:
    """Raise for an HTTP 200 webhook answer whose ``errcode`` is not 0.

    A 200 without ``errcode`` (the AI-assistant webhook's body is undocumented) is success.
    """
    decoded = decode_json(body)
    if not isinstance(decoded, dict) or "errcode" not in decoded:
        return
    errcode = decoded["errcode"]
    if errcode in (0, "0"):
        return
    message = _first(decoded, "errmsg", "message") or f"errcode {errcode}"
    args: dict[str, Any] = {"operation": operation.value, "status": 200, "code": str(errcode)}
    if str(errcode) == str(SESSION_EXPIRED_ERRCODE):
        raise SessionExpired(message, **args)
    if str(errcode) in _WEBHOOK_RATE_LIMIT_ERRCODES:
        raise PlatformRateLimited(message, **args)
    raise PlatformRejected(message, **args)


def unavailable(operation: Operation, reason: str) -> PlatformUnavailable:
    """The error for a call that got no answer (timeout, broken stream)."""
    return PlatformUnavailable(reason, operation=operation.value)


def unreachable(operation: Operation, reason: str) -> PlatformUnreachable:
    """The error for a call that could not even connect: nothing was sent."""
    return PlatformUnreachable(reason, operation=operation.value)


def read_answer(operation: Operation, endpoint: Endpoint, response: httpx2.Response) -> Any:
    """The decoded JSON of a success answer; raises the typed error of any other."""
    content = response.content
    if not 200 <= response.status_code < 300:
        raise error_from_response(
            operation,
            response.status_code,
            content,
            request_id=response.headers.get("x-acs-request-id"),
            retry_after=response.headers.get("retry-after"),
        )
    if endpoint.host == "webhook":
        check_webhook(operation, content)
        return decode_json(content)
    decoded = decode_json(content)
    if decoded is None and content.strip():
        raise unavailable(operation, "the success answer is not JSON")
    return decoded
