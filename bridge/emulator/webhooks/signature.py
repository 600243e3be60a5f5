"""The signatures DingTalk puts on its HTTP callbacks (contract §6.4 and §13.1).

A robot callback carries ``timestamp`` (epoch ms) and ``sign`` headers, where ``sign`` is
``base64(HMAC_SHA256(key=appSecret, msg=timestamp + "\\n" + appSecret))`` over UTF-8.
A card callback (a button pressed) to a URL registered with an ``apiSecret`` carries
``x-ddpaas-signature-timestamp`` and ``x-ddpaas-signature`` =
``base64(HMAC_SHA256(key=apiSecret, msg=str(timestamp)))``. The posters sign with these;
the receiving bridge must accept exactly them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(timestamp_ms: int | str, app_secret: str) -> str:
    """The ``sign`` header of a callback stamped ``timestamp_ms`` for an app with this secret."""
    message = f"{timestamp_ms}\n{app_secret}".encode()
    return _hmac(app_secret, message)


def card_sign(timestamp_ms: int | str, api_secret: str) -> str:
    """The ``x-ddpaas-signature`` of a card callback stamped ``timestamp_ms``."""
    return _hmac(api_secret, str(timestamp_ms).encode())


def _hmac(key: str, message: bytes) -> str:
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
