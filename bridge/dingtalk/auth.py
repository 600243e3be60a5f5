"""The app access token: cached, refreshed ahead of expiry, fetched by one caller at a time.

DingTalk rate-limits the token endpoint and hands out the same token while it is valid
(§1), so every call of one app shares one ``AccessTokenProvider``. ``get()`` returns
the cached token until ``token_refresh_margin`` seconds before it expires; then the
first caller fetches a new one while every concurrent caller waits for that same fetch
(single flight: 50 callers, one request). A call refused with ``InvalidAuthentication``
hands its token to ``invalidate`` and asks again.

``problem()`` says why the app cannot authenticate a call right now (the last fetch
failed and no unexpired token is held), for ``/readyz``.

The provider does no HTTP itself: it is given a ``fetch`` coroutine function (the
client's ``fetch_access_token``), which keeps it testable with a fake fetch and a fake
clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from bridge.dingtalk.wire import AccessToken

__all__ = ["AccessTokenProvider"]

log = logging.getLogger(__name__)


class _Flight:
    """One token fetch in progress, awaited by every caller that arrived meanwhile."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.token: str | None = None
        self.error: BaseException | None = None


class AccessTokenProvider:
    """Caches one app's access token and refreshes it with single flight."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[AccessToken]],
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0  # when the cached token stops working (refresh_at is earlier)
        self._flight: _Flight | None = None
        self.fetches = 0  # how many fetches were started; for metrics and tests
        self.last_error: str | None = None  # why the last fetch failed; None after a success

    def cached(self) -> str | None:
        """The current token if it is still fresh, without fetching."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return None

    def problem(self) -> str | None:
        """Why no call can be authenticated now: the last fetch failed and no unexpired
        token is held. None when calls can go out (or no fetch was tried yet)."""
        if self.last_error is None:
            return None
        if self._token is not None and self._clock() < self._expires_at:
            return None  # a refresh failed, but the token still works for a while
        return self.last_error

    async def get(self) -> str:
        """A fresh access token, fetching one if needed (one fetch for all callers)."""
        while True:
            token = self.cached()
            if token is not None:
                return token
            flight = self._flight
            if flight is None:
                return await self._lead()
            await flight.done.wait()
            if flight.token is not None:
                return flight.token
            if flight.error is not None:
                raise flight.error
            # The leader was cancelled before it got an answer: try again, maybe as leader.

    def invalidate(self, token: str) -> None:
        """Forget ``token`` because DingTalk refused it; a newer token is kept."""
        if self._token == token:
            log.info("access token refused by the platform; it will be refreshed")
            self._token = None
            self._refresh_at = self._expires_at = 0.0

    async def _lead(self) -> str:
        flight = self._flight = _Flight()
        self.fetches += 1
        # The lifetime counts from the request, not the answer: err on the early side.
        started = self._clock()
        try:
            issued = await self._fetch()
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:
            flight.error = exc
            self.last_error = str(exc) or type(exc).__name__
            raise
        else:
            # A margin as long as the lifetime would refresh on every call; keep half.
            margin = min(self._margin, issued.expires_in / 2)
            self._token = issued.value
            self._refresh_at = started + issued.expires_in - margin
            self._expires_at = started + issued.expires_in
            self.last_error = None
            flight.token = issued.value
            log.debug("access token fetched, valid for %.0f s", issued.expires_in)
            return issued.value
        finally:
            self._flight = None
            flight.done.set()
