"""The signature DingTalk puts on a robot HTTP callback (contract §6.4).

Each callback carries ``timestamp`` (epoch ms) and ``sign`` headers, where ``sign`` is
``base64(HMAC_SHA256(key=appSecret, msg=timestamp + "\\n" + appSecret))`` over UTF-8.
The poster signs with it; the receiving bridge must accept exactly this.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(timestamp_ms: int | str, app_secret: str) -> str:
    """The ``sign`` header of a callback stamped ``timestamp_ms`` for an app with this secret."""
    message = f"{timestamp_ms}\n{app_secret}".encode()
    digest = hmac.new(app_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
