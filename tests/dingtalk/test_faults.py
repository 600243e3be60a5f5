"""Tests for bridge.dingtalk.faults: every documented error answer → the error tree."""

from __future__ import annotations

import json

import pytest

from bridge.dingtalk.faults import check_webhook, error_from_response, is_token_error
from bridge.dingtalk.operations import Operation
from bridge.errors import (
    InvalidConversationToken,
    PlatformAuthError,
    PlatformError,
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformRejected,
    PlatformUnavailable,
    SessionExpired,
)

OP = Operation.AI_UPDATE


def body(**fields: object) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "InvalidAuthentication", PlatformAuthError),
        (401, "-", PlatformAuthError),
        (400, "invalidClientIdOrSecret", PlatformAuthError),
        (400, "AuthenticationFailed.MissingParameter", PlatformAuthError),
        (403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", PlatformPermissionDenied),
        (403, "Forbidden.AccessDenied.IpNotInWhiteList", PlatformPermissionDenied),
        (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", PlatformRateLimited),
        (403, "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi", PlatformRateLimited),
        (403, "Forbidden.AccessDenied.QpsLimitForApi", PlatformRateLimited),
        (429, "Throttling", PlatformRateLimited),
        (403, "Forbidden.AccessDenied.ApiCountLimitForOrg", PlatformQuotaExceeded),
        (500, "system.error", PlatformUnavailable),
        (400, "invalid.conversation.token", InvalidConversationToken),
        (400, "invalid.param", PlatformRejected),
        (400, "invalid.content", PlatformRejected),
        (400, "invalid.content.type", PlatformRejected),
        (400, "param.stream.contentEmpty", PlatformRejected),
    ],
)
@pytest.mark.parametrize("casing", ["lower", "capitalised"])
def test_v1_error_codes_map_to_the_tree(
    status: int, code: str, kind: type[PlatformError], casing: str
) -> None:
    """Each documented v1.0 code, in either key casing, maps to its error class."""
    if casing == "lower":
        raw = body(code=code, message="msg", requestid="rid-1")
    else:
        raw = body(Code=code, Message="msg", RequestId="rid-1", HostId="h", Recommend="r")
    error = error_from_response(OP, status, raw)
    assert type(error) is kind
    assert (error.operation, error.status, error.code, error.request_id, error.message) == (
        "aiInteraction.update",
        status,
        code,
        "rid-1",
        "msg",
    )


def test_ai_assistant_not_found_is_permission_denied() -> None:
    """invalid.param "ai assistant not found" means a token of another app: a setup problem."""
    error = error_from_response(
        OP, 400, body(code="invalid.param", message="ai assistant not found")
    )
    assert type(error) is PlatformPermissionDenied


def test_invalid_union_id_is_a_rejection() -> None:
    """invalid.param about the target stays a request problem."""
    error = error_from_response(OP, 400, body(code="invalid.param", message="invalid unionId"))
    assert type(error) is PlatformRejected


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_gateway_errors_without_body_are_unavailable(status: int) -> None:
    """5xx and 504 without a JSON body are PlatformUnavailable with the HTTP status."""
    error = error_from_response(OP, status, b"")
    assert type(error) is PlatformUnavailable
    assert error.status == status
    assert error.message == f"HTTP {status}"


def test_ip_ban_json_body_is_rate_limited_with_wait() -> None:
    """The IP-ban body {"status":1111,"wait":5,"punish":"deny"} sets retry_after = wait."""
    raw = body(status=1111, wait=5, punish="deny", url="x")
    error = error_from_response(OP, 403, raw)
    assert isinstance(error, PlatformRateLimited)
    assert error.retry_after == 5.0
    assert error.code == "1111"


def test_ip_ban_html_body_is_rate_limited() -> None:
    """An HTML 403 (ban page) is PlatformRateLimited, keeping a Retry-After header hint."""
    error = error_from_response(OP, 403, b"<html><body>denied</body></html>", retry_after="7")
    assert isinstance(error, PlatformRateLimited)
    assert error.retry_after == 7.0


def test_html_error_page_message_is_a_snippet() -> None:
    """A non-JSON error page gives a short message, not the whole page."""
    error = error_from_response(OP, 502, b"<html>" + b"x" * 500 + b"</html>")
    assert isinstance(error, PlatformUnavailable)
    assert len(error.message) <= 121


def test_request_id_header_is_used_when_the_body_has_none() -> None:
    """The x-acs-request-id header fills in a missing body request id."""
    error = error_from_response(OP, 400, body(code="invalid.content"), request_id="hdr")
    assert error.request_id == "hdr"


def test_qps_limit_is_rate_limited_without_hint() -> None:
    """A QPS 403 has no server hint, so the policy's default wait applies."""
    error = error_from_response(
        OP, 403, body(code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
    )
    assert isinstance(error, PlatformRateLimited)
    assert error.retry_after is None


def test_token_errors() -> None:
    """Only InvalidAuthentication and a bare 401 ask for a token refresh."""
    assert is_token_error(error_from_response(OP, 400, body(code="InvalidAuthentication")))
    assert is_token_error(error_from_response(OP, 401, body(message="Unauthorized")))
    assert not is_token_error(error_from_response(OP, 400, body(code="invalidClientIdOrSecret")))
    assert not is_token_error(error_from_response(OP, 400, body(code="invalid.param")))


def test_webhook_ok_and_missing_errcode_are_success() -> None:
    """errcode 0, a string "0" and a body without errcode are all success."""
    check_webhook(Operation.ROBOT_WEBHOOK, body(errcode=0, errmsg="ok"))
    check_webhook(Operation.ROBOT_WEBHOOK, body(errcode="0"))
    check_webhook(Operation.AI_WEBHOOK, body(success=True))
    check_webhook(Operation.AI_WEBHOOK, b"")


def test_webhook_session_expired() -> None:
    """errcode 300001 on HTTP 200 is SessionExpired."""
    with pytest.raises(SessionExpired) as caught:
        check_webhook(Operation.ROBOT_WEBHOOK, body(errcode=300001, errmsg="session 不存在"))
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        "300001",
        200,
        "session 不存在",
    )


def test_webhook_other_errcode_is_rejected() -> None:
    """Any other non-zero errcode is PlatformRejected with code str(errcode)."""
    with pytest.raises(PlatformRejected) as caught:
        check_webhook(Operation.ROBOT_WEBHOOK, body(errcode=40035, errmsg="bad"))
    assert type(caught.value) is PlatformRejected
    assert caught.value.code == "40035"


def test_webhook_too_fast_is_rate_limited() -> None:
    """errcode 130101 (sending too fast) is PlatformRateLimited, so it is retried later."""
    with pytest.raises(PlatformRateLimited):
        check_webhook(Operation.ROBOT_WEBHOOK, body(errcode=130101, errmsg="send too fast"))


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalidParameter", PlatformAuthError),
        (401, None, PlatformAuthError),
        (403, "Forbidden.AccessDenied.IpNotInWhiteList", PlatformAuthError),
        (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", PlatformRateLimited),
        (429, "Throttling", PlatformRateLimited),
        (500, "system.error", PlatformUnavailable),
    ],
)
def test_stream_gateway_refusals_are_auth_errors_and_limits_stay_limits(
    status: int, code: str | None, expected: type[PlatformError]
) -> None:
    """The gateway's 400/401/403 are PlatformAuthError, unless the code says rate limit."""
    fields = {"code": code, "message": "x"} if code else {"message": "x"}
    error = error_from_response(Operation.GATEWAY_OPEN, status, body(**fields))
    assert type(error) is expected
