"""The one retry policy of DingTalk calls: what is retried, how long to wait, all logged.

* A rate-limit refusal (403 ``QpsLimit…``, an IP ban, a robot's "sending too fast") was
  not executed, so every operation retries it after the server's hint or
  ``rate_limited_wait``. Inside a reply's delivery deadline (``bridge.dingtalk.deadline``)
  such retries are not counted against ``attempts``: a rate-limit window of any length
  is waited out while the deadline allows, and the relay's bound on the call is
  stretched for the wait. Outside one (start-up recovery, a token fetch, a reply past
  its deadline or winding up after cancellation) they count like any failure, and a
  server hint over ``MAX_SERVER_WAIT`` is reported rather than waited.
* ``PlatformUnavailable`` (5xx, 504, connect errors, timeouts) may hide a call that did
  take effect, so only idempotent operations (``ENDPOINTS[op].idempotent``) retry it,
  after a capped exponential backoff with jitter; ``PlatformUnreachable`` (nothing was
  sent) is retried for every operation. Both count against ``attempts``.
* Everything else (bad request, permission, the monthly quota, auth) is final here; the
  client handles an expired access token itself (refresh and one more try). The quota
  (``ApiCountLimitForOrg``) is not a rate limit: waiting would not bring it back.

``RetryPolicy.delay`` is the pure decision; ``run`` applies it around an attempt and
tells its ``observer`` of every failed attempt, retried or final (``bridge.observe``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from bridge.config import RetryConfig
from bridge.dingtalk import deadline
from bridge.dingtalk.operations import ENDPOINTS, Operation
from bridge.errors import (
    PlatformError,
    PlatformRateLimited,
    PlatformUnavailable,
    PlatformUnreachable,
)
from bridge.observe.hooks import UNOBSERVED, CallObserver

__all__ = ["MAX_SERVER_WAIT", "RetryPolicy"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Outside a delivery deadline, the longest server hint honoured before retrying;
#: longer bans are reported instead.
MAX_SERVER_WAIT = 30.0


class RetryPolicy:
    """Decides and performs the retries of DingTalk calls, from ``RetryConfig``.

    ``clock`` must be ``anyio.current_time`` outside tests: deadlines are in its time.
    """

    def __init__(
        self,
        config: RetryConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = anyio.current_time,
        observer: CallObserver = UNOBSERVED,
    ) -> None:
        self.config = config
        self._observer = observer
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock

    def backoff(self, attempt: int) -> float:
        """Wait after failed attempt number ``attempt`` (1-based): capped, half jittered."""
        ceiling = min(self.config.backoff_max, self.config.backoff_initial * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._jitter() * ceiling / 2

    @staticmethod
    def counts(error: PlatformError, deadline: float | None) -> bool:
        """True when ``error`` uses up one of ``attempts``: all but a rate limit met
        inside a delivery deadline."""
        return not (isinstance(error, PlatformRateLimited) and deadline is not None)

    def delay(
        self,
        operation: Operation,
        error: PlatformError,
        failures: int,
        *,
        now: float = 0.0,
        deadline: float | None = None,
    ) -> float | None:
        """Seconds to wait before retrying after ``error``, or ``None`` when it is final.

        ``failures`` is how many counted failures (``counts``) the call has had, this
        one included; ``deadline`` the call's delivery deadline (same clock as ``now``),
        ``None`` outside one.
        """
        if isinstance(error, PlatformRateLimited):
            hint = error.retry_after
            # A little jitter, so callers refused together do not come back together.
            wait = (hint if hint is not None else self.config.rate_limited_wait) * (
                1 + 0.1 * self._jitter()
            )
            if deadline is not None:
                return wait if now + wait <= deadline else None
            if failures >= self.config.attempts or (hint is not None and hint > MAX_SERVER_WAIT):
                return None
            return wait
        if failures >= self.config.attempts:
            return None
        if isinstance(error, PlatformUnreachable):
            return self.backoff(failures)  # nothing was sent: safe for every operation
        if isinstance(error, PlatformUnavailable) and ENDPOINTS[operation].idempotent:
            return self.backoff(failures)
        return None

    async def run(
        self,
        operation: Operation,
        attempt: Callable[[], Awaitable[T]],
        *,
        back_off: Callable[[float], None] | None = None,
    ) -> T:
        """Call ``attempt`` until it succeeds or ``delay`` says the error is final.

        ``back_off(seconds)`` paces the wait after a rate limit through the shared rate
        budget: the whole lane holds back, and the next attempt queues there for its
        slot. Without it (and for every other wait) the loop sleeps.
        """
        tries = failures = limited = 0
        started = self._clock()
        while True:
            tries += 1
            try:
                result = await attempt()
            except PlatformError as error:
                now = self._clock()
                until = deadline.current()
                if self.counts(error, until):
                    failures += 1
                wait = self.delay(operation, error, failures, now=now, deadline=until)
                self._observer.failed(operation, error, retrying=wait is not None)
                if wait is None:
                    if tries > 1:
                        log.warning(
                            "%s failed after %d attempts: %s", operation.value, tries, error
                        )
                    raise
                rate_limited = isinstance(error, PlatformRateLimited)
                self._log_retry(operation, tries, error, wait, quiet=rate_limited and limited > 0)
                if rate_limited:
                    limited += 1
            else:
                if limited:
                    log.info(
                        "%s went through after %d rate-limited attempts (%.1f s)",
                        operation.value,
                        limited,
                        self._clock() - started,
                    )
                return result
            # Before waiting: the relay's bound on this call must not expire meanwhile.
            deadline.stretch(now + wait)
            if rate_limited and back_off is not None:
                back_off(wait)
            else:
                await self._sleep(wait)

    @staticmethod
    def _log_retry(
        operation: Operation, tries: int, error: PlatformError, wait: float, *, quiet: bool
    ) -> None:
        # A rate-limit window may last many attempts: the first one is worth a warning,
        # the rest only at debug level (the outcome is logged once it is known).
        log.log(
            logging.DEBUG if quiet else logging.WARNING,
            "%s attempt %d failed (%s: %s); retrying in %.2f s",
            operation.value,
            tries,
            type(error).__name__,
            error.message,
            wait,
        )
