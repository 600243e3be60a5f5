"""The HMAC signature of DingTalk's robot HTTP callbacks (wire contract §6.4).

DingTalk signs each callback with ``sign = base64(HMAC_SHA256(key=appSecret,
msg=timestamp + "\\n" + appSecret))`` and sends ``timestamp`` (epoch ms) and ``sign`` as
headers. The inbound HTTP adapter calls ``verify`` before it reads the body; the
emulator calls ``sign`` to produce callbacks a real bridge accepts.

Card callbacks over HTTP (§13.1) are signed differently when their registration has
an ``apiSecret``: ``x-ddpaas-signature = base64(HMAC_SHA256(key=apiSecret,
msg=str(timestamp)))`` with ``x-ddpaas-signature-timestamp``; ``card_sign`` and
``verify_card`` are that pair, with the same window.

The signature covers the timestamp and nothing else, so a captured ``timestamp``/``sign``
pair would carry any body for the rest of its hour. ``ReplayGuard`` remembers, per
assistant and in memory, which message each pair came with, and refuses the pair with
another message id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict

from bridge.errors import InboundError

__all__ = ["DEFAULT_WINDOW_S", "ReplayGuard", "card_sign", "sign", "verify", "verify_card"]

#: DingTalk rejects timestamps more than one hour away from now; so do we.
DEFAULT_WINDOW_S = 3600.0


def sign(timestamp_ms: str | int, secret: str) -> str:
    """The ``sign`` header DingTalk sends with a callback stamped ``timestamp_ms``."""
    return _signature(timestamp_ms, secret)


def card_sign(timestamp_ms: str | int, api_secret: str) -> str:
    """The ``x-ddpaas-signature`` of a card callback stamped ``timestamp_ms`` (§13.1)."""
    digest = hmac.new(api_secret.encode(), str(timestamp_ms).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


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
    _check(sign, _signature(_stamp(timestamp, now_ms, window_s), secret))


def verify_card(
    timestamp: str | None,
    signature: str | None,
    api_secret: str,
    *,
    now_ms: int,
    window_s: float = DEFAULT_WINDOW_S,
) -> None:
    """Accept a card callback's ``x-ddpaas-signature(-timestamp)`` or raise 401, as
    ``verify`` does for robot callbacks (window, constant-time compare)."""
    if not timestamp or not signature:
        raise InboundError("missing x-ddpaas-signature or its timestamp", status=401)
    _check(signature, card_sign(_stamp(timestamp, now_ms, window_s), api_secret))


def _stamp(timestamp: str, now_ms: int, window_s: float) -> str:
    """``timestamp`` if it is an integer within the window of ``now_ms``; else 401."""
    try:
        stamp = int(timestamp)
    except ValueError:
        raise InboundError("timestamp is not an integer", status=401) from None
    if abs(now_ms - stamp) > window_s * 1000:
        raise InboundError("timestamp is outside the accepted window", status=401)
    return timestamp


def _check(given: str, expected: str) -> None:
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        raise InboundError("bad signature", status=401)


class ReplayGuard:
    """Refuses a ``timestamp``/``sign`` pair already seen with another message id.

    DingTalk signs each callback when it sends it, so a pair belongs to one message (the
    same message may come again: a retry, which dedup answers once). Two different
    messages sent within the same millisecond share a pair too; within ``reuse_grace``
    seconds of its first sighting a pair is therefore still accepted for another
    message. Entries are forgotten once their timestamp leaves the signature window
    (the pair is refused as stale from then on anyway); at most ``max_entries`` are
    kept, oldest dropped first. Only pairs whose signature verified are recorded, so
    nobody without the secret can fill the cache. In memory, per process: a restart
    forgets (``[serve]`` documents this).
    """

    def __init__(
        self,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        reuse_grace: float = 2.0,
        max_entries: int = 100_000,
    ) -> None:
        self._window_ms = window_s * 1000
        self._grace_ms = reuse_grace * 1000
        self._max = max_entries
        # (timestamp, sign) → (message id, first seen, epoch ms), in arrival order.
        self._seen: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, timestamp: str, sign: str, message_id: str, *, now_ms: int) -> None:
        """Record the pair for ``message_id``, or raise ``InboundError(401)`` for a replay.

        Call it after ``verify`` accepted the pair and the body named its message id.
        """
        self._forget_expired(now_ms)
        key = (timestamp, sign)
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = (message_id, now_ms)
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return
        first_id, first_seen = seen
        if first_id != message_id and now_ms - first_seen > self._grace_ms:
            raise InboundError(
                "timestamp and sign were already used for another message", status=401
            )

    def _forget_expired(self, now_ms: int) -> None:
        while self._seen:
            (timestamp, _), _ = next(iter(self._seen.items()))
            try:
                stale = now_ms - int(timestamp) > self._window_ms
            except ValueError:
                stale = True
            if not stale:
                return
            self._seen.popitem(last=False)
