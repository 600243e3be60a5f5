"""The one retry policy of DingTalk calls: what is retried, how long to wait, all logged.

* A rate-limit refusal (403 ``QpsLimit…``, an IP ban) was not executed, so every
  operation retries it after the server's hint or ``rate_limited_wait``.
* ``PlatformUnavailable`` (5xx, 504, connect errors, timeouts) may hide a call that did
  take effect, so only idempotent operations (``ENDPOINTS[op].idempotent``) retry it,
  after a capped exponential backoff with jitter.
* Everything else (bad request, permission, quota, auth) is final here; the client
  handles an expired access token itself (refresh and one more try).

``RetryPolicy.delay`` is the pure decision; ``run`` applies it around an attempt.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from bridge.config import RetryConfig
from bridge.dingtalk.operations import ENDPOINTS, Operation
from bridge.errors import (
    PlatformError,
    PlatformRateLimited,
    PlatformUnavailable,
    PlatformUnreachable,
)

__all__ = ["MAX_SERVER_WAIT", "RetryPolicy"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The longest server hint honoured before retrying; longer bans are reported instead.
MAX_SERVER_WAIT = 30.0


class RetryPolicy:
    """Decides and performs the retries of DingTalk calls, from ``RetryConfig``."""

    def __init__(
        self,
        config: RetryConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._jitter = jitter

    def backoff(self, attempt: int) -> float:
        """Wait after failed attempt number ``attempt`` (1-based): capped, half jittered."""
        ceiling = min(self.config.backoff_max, self.config.backoff_initial * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._jitter() * ceiling / 2

    def delay(self, operation: Operation, error: PlatformError, attempt: int) -> float | None:
        """Seconds to wait before retrying after ``error`` on attempt ``attempt``, or
        ``None`` when the error is final (not retryable or attempts used up)."""
        if attempt >= self.config.attempts:
            return None
        if isinstance(error, PlatformRateLimited):
            hint = error.retry_after
            if hint is not None and hint > MAX_SERVER_WAIT:
                return None
            wait = hint if hint is not None else self.config.rate_limited_wait
            # A little jitter, so callers refused together do not come back together.
            return wait * (1 + 0.1 * self._jitter())
        if isinstance(error, PlatformUnreachable):
            return self.backoff(attempt)  # nothing was sent: safe for every operation
        if isinstance(error, PlatformUnavailable) and ENDPOINTS[operation].idempotent:
            return self.backoff(attempt)
        return None

    async def run(self, operation: Operation, attempt: Callable[[], Awaitable[T]]) -> T:
        """Call ``attempt`` until it succeeds or ``delay`` says the error is final."""
        number = 1
        while True:
            try:
                return await attempt()
            except PlatformError as error:
                wait = self.delay(operation, error, number)
                if wait is None:
                    if number > 1:
                        log.warning(
                            "%s failed after %d attempts: %s", operation.value, number, error
                        )
                    raise
                log.warning(
                    "%s attempt %d failed (%s: %s); retrying in %.2f s",
                    operation.value,
                    number,
                    type(error).__name__,
                    error.message,
                    wait,
                )
            await self._sleep(wait)
            number += 1
