"""Keeping each assistant's access token fresh, so readiness learns of refusals by itself.

A token is otherwise fetched only when a call needs one: refused credentials (a secret
changed or revoked in DingTalk's console) would go unnoticed until a user's message
failed, and once noticed, nothing would try again until the next message. ``watch_tokens``
runs beside the doors of ``bridge serve``: every ``interval`` seconds (the first round
after one interval) it asks each
assistant's ``AccessTokenProvider`` for a token, which fetches only when the cached one is
due for refresh (``token_refresh_margin`` before it expires) or was refused, so a healthy
service makes no extra calls. A failed fetch is logged once (and again when the reason
changes), ``/readyz`` says the assistant has no valid access token, and the next round
tries again after ``interval``, then after twice as long each time while a refusal
lasts (up to ``MAX_INTERVAL``); the first success makes it ready again. Nothing here
ever stops the service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio

from bridge.dingtalk.auth import AccessTokenProvider
from bridge.errors import BridgeError

__all__ = ["MAX_INTERVAL", "TOKEN_CHECK_INTERVAL", "watch_tokens"]

log = logging.getLogger(__name__)

TOKEN_CHECK_INTERVAL = 5.0
"""Seconds between two rounds of ``watch_tokens`` (each a no-op while tokens are fresh)."""
MAX_INTERVAL = 60.0
"""The longest pause between two rounds while some assistant's credentials are refused."""


async def watch_tokens(
    providers: Mapping[str, AccessTokenProvider], *, interval: float = TOKEN_CHECK_INTERVAL
) -> None:
    """Forever: keep every assistant's token fresh, logging refusals; ends by cancellation."""
    failing: dict[str, str] = {}
    streak = 0  # rounds in a row in which some fetch failed
    while True:
        # The first round one interval after the start: start-up fetched (or will fetch)
        # on demand, and the doors' first messages need not share the moment with a check.
        pause = interval * 2 ** max(0, streak - 1)
        await anyio.sleep(min(max(interval, MAX_INTERVAL), pause))
        for name, tokens in providers.items():
            try:
                await tokens.get()
            except BridgeError as exc:
                if failing.get(name) != str(exc):
                    log.error("assistant %s has no valid access token: %s", name, exc)
                failing[name] = str(exc)
            except Exception:
                # The boundary of one round: a bug here must not stop the service.
                log.exception("checking the access token of %s failed", name)
            else:
                if failing.pop(name, None) is not None:
                    log.warning("assistant %s has a valid access token again", name)
        streak = min(streak + 1, 16) if failing else 0
