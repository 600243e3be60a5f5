"""How the emulated world says no, in two ways that never mix.

``Rejection`` is what a state method raises when DingTalk would refuse a call; the
request pipeline turns it into the wire body of that API (v1.0 ``{"code","requestid",
"message"}`` or a webhook's ``{"errcode","errmsg"}``). It is the platform's answer, not a
failure of the emulator, so it is not an ``EmulatorError``.

``EmulatorError`` is the base of the emulator's own errors: the control API (or a test
driving the state directly) asked for something impossible, such as an inbound message
from a user who does not exist. The emulator stands alone like DingTalk does, so its
errors belong to no other package's tree.
"""

from __future__ import annotations


class Rejection(Exception):
    """A simulated platform refusal.

    ``status``/``code``/``message`` build the v1.0 error body; ``errcode`` (with
    ``message`` as ``errmsg``) is used by the webhook operations, which answer HTTP 200.
    """

    def __init__(self, status: int, code: str, message: str, *, errcode: int | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.errcode = errcode
        super().__init__(f"{status} {code}: {message}")


def bad_request(code: str, message: str) -> Rejection:
    """A 400 with a v1.0 ``code``."""
    return Rejection(400, code, message)


def webhook_error(errcode: int, errmsg: str) -> Rejection:
    """A webhook refusal: HTTP 200 with a non-zero ``errcode``."""
    return Rejection(200, str(errcode), errmsg, errcode=errcode)


SESSION_GONE = 300001
"""errcode of an expired or unknown sessionWebhook."""

MALFORMED = 40035
"""errcode the emulator uses for a malformed webhook body (a missing or invalid field)."""

TOO_FAST = 130101
"""errcode of a webhook sent faster than the limit allows."""


class EmulatorError(Exception):
    """The emulator was asked for something impossible (unknown id, bad argument, no peer).

    ``status`` is the HTTP status the control API answers with (400, 404, 408 or 409);
    ``EmulatorControl`` raises it with the status and message it received.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


def not_found(kind: str, key: str) -> EmulatorError:
    """A 404 for an unknown user, conversation, message, app…"""
    return EmulatorError(f"unknown {kind} {key!r}", status=404)
