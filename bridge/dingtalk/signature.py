"""The HMAC signature of DingTalk's robot HTTP callbacks (wire contract §6.4).

DingTalk signs each callback with ``sign = base64(HMAC_SHA256(key=appSecret,
msg=timestamp + "\\n" + appSecret))`` and sends ``timestamp`` (epoch ms) and ``sign`` as
headers. The inbound HTTP adapter calls ``verify`` before it reads the body; the
emulator calls ``sign`` to produce callbacks a real bridge accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from bridge.errors import InboundError

__all__ = ["DEFAULT_WINDOW_S", "sign", "verify"]

#: DingTalk rejects timestamps more than one hour away from now; so do we.
DEFAULT_WINDOW_S = 3600.0


def sign(timestamp_ms: str | int, secret: str) -> str:
    """The ``sign`` header DingTalk sends with a callback stamped ``timestamp_ms``."""
    return _signature(timestamp_ms, secret)


def _signature(timestamp_ms: str | int, secret: str) -> str:
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(
    timestamp: str | None,
    sign: str | None,
    secret: str,
    *,
    now_ms: int,
    window_s: float = DEFAULT_WINDOW_S,
) -> None:
    """Accept a callback's ``timestamp``/``sign`` headers or raise ``InboundError(401)``.

    Both must be present, the timestamp within ``window_s`` of ``now_ms`` (either side:
    clocks drift), and the signature equal to ``sign(timestamp, secret)``, compared in
    constant time so the check leaks nothing about the expected value.
    """
    if not timestamp or not sign:
        raise InboundError("missing timestamp or sign header", status=401)
    try:
        stamp = int(timestamp)
    except ValueError:
        raise InboundError("timestamp is not an integer", status=401) from None
    if abs(now_ms - stamp) > window_s * 1000:
        raise InboundError("timestamp is outside the accepted window", status=401)
    expected = _signature(timestamp, secret).encode("ascii")
    if not hmac.compare_digest(expected, sign.encode("utf-8", "replace")):
        raise InboundError("bad signature", status=401)
