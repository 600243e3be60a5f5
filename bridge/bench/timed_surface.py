"""A surface that times its calls, so the benchmark knows a call's duration as the bridge saw it.

``TimedSurface`` wraps the production surface the benchmark streams on (``ai_reply``) and
appends the seconds each call took (``open`` excluded: it makes no DingTalk call in
reply mode) to a list the phase reads afterwards. The duration includes the wait for the
client-side rate budget and any retry, which is what a user's message waits for. The
relay sees an ordinary surface: its name, flags and message handles are the wrapped
surface's own.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio

from bridge.delivery.surface import LiveMessage, Surface, WrappedSurface

__all__ = ["TimedLive", "TimedSurface"]


class TimedLive:
    """A live message that records how long each of its calls took."""

    def __init__(self, live: LiveMessage, seconds: list[float]) -> None:
        self._live = live
        self._seconds = seconds

    @property
    def handle(self) -> Mapping[str, str] | None:
        """The wrapped message's recovery handle."""
        return self._live.handle

    async def update(self, text: str) -> None:
        """Show ``text`` through the wrapped message, timed."""
        started = anyio.current_time()
        await self._live.update(text)
        self._seconds.append(anyio.current_time() - started)

    async def close(self, text: str, *, ok: bool) -> None:
        """Close the wrapped message, timed."""
        started = anyio.current_time()
        await self._live.close(text, ok=ok)
        self._seconds.append(anyio.current_time() - started)


class TimedSurface(WrappedSurface):
    """``surface`` with its calls timed into ``seconds``."""

    def __init__(self, surface: Surface, seconds: list[float]) -> None:
        super().__init__(surface)
        self._seconds = seconds

    async def open(self) -> LiveMessage:
        """Open a message on the wrapped surface; its calls are timed."""
        return TimedLive(await self._inner.open(), self._seconds)

    async def send_once(self, text: str) -> None:
        """Send ``text`` once through the wrapped surface, timed."""
        started = anyio.current_time()
        await self._inner.send_once(text)
        self._seconds.append(anyio.current_time() - started)
