"""Watching one reply from outside the relay: what the model produced, what DingTalk shows.

The answerer wraps the relay's inputs rather than the relay: ``ReplyWatch.events`` notes
when answer text arrives from the model, and ``ReplyWatch.surface`` wraps each candidate
surface (around its journal wrapper) and notes every call that went through: a message
opened, a message let go (closed, or its close failed), text shown. From the two the
watch tells its ``ReplyObserver``:

- the **time to first visible text**: from the message's receipt (``began(waited)``,
  ``waited`` being the time before the answer started: queued, waiting for a slot) to
  the first call that showed answer text;
- the **visible lag** of each call that showed new answer text: how long the oldest
  text it newly showed had waited since it arrived from the model. A call answers for
  the text that arrived before it started; if it fails, that text waits for the next
  call. The pacer may hold back half a line that arrived before a call, and the next
  call's lag then starts at later text: a close lower bound, cheap enough to take for
  every call, not the benchmark's per-character measure;
- messages **opened** and **let go**, balanced when the reply ends whatever happened;
- how the reply **ended** (``ended``/``broke``).

Times come from ``clock`` (``anyio.current_time``, as the relay's), except ``waited``,
which the answerer measures with its own clock.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio

from bridge.core.events import LLMEvent, TextDelta
from bridge.delivery.outcome import RelayResult
from bridge.delivery.surface import LiveMessage, Surface, WrappedSurface
from bridge.observe.hooks import ReplyObserver

__all__ = ["ReplyWatch"]

EventStream = AbstractAsyncContextManager[AsyncIterator[LLMEvent]]


class ReplyWatch:
    """The observer's eyes on one reply (module docstring)."""

    def __init__(
        self, observer: ReplyObserver, *, clock: Callable[[], float] = anyio.current_time
    ) -> None:
        self._observer = observer
        self._clock = clock
        self._began: float | None = None
        self._waited = 0.0
        self._unshown: float | None = None  # when the oldest text no call has taken arrived
        self._open = 0
        self._seen = False
        self._ended = False

    def began(self, waited: float) -> None:
        """The answer starts now, ``waited`` seconds after the message was received."""
        self._began = self._clock()
        self._waited = max(0.0, waited)
        self._observer.began()

    def events(self, stream: EventStream) -> EventStream:
        """``stream``, noting when its answer text arrives."""
        return self._events(stream)

    def surface(self, surface: Surface) -> Surface:
        """``surface``, noting what its calls open, close and show."""
        return _WatchedSurface(surface, self)

    def ended(self, result: RelayResult | None) -> None:
        """The reply ended with ``result`` (None: no surface could reach it)."""
        if self._end():
            self._observer.ended(result)

    def broke(self, error: BaseException) -> None:
        """An exception (cancellation included) ended the reply."""
        if self._end():
            self._observer.broke(error)

    # ------------------------------------------------------------------ bookkeeping

    @asynccontextmanager
    async def _events(self, stream: EventStream) -> AsyncIterator[AsyncIterator[LLMEvent]]:
        async with stream as events:
            noted = self._noting(events)
            try:
                yield noted
            finally:
                await noted.aclose()  # suspended at a yield, if at all: no await inside

    async def _noting(self, events: AsyncIterator[LLMEvent]) -> AsyncGenerator[LLMEvent, None]:
        async for event in events:
            if isinstance(event, TextDelta) and event.text and self._unshown is None:
                self._unshown = self._clock()
            yield event

    async def showing(self, call: Awaitable[None]) -> None:
        """Await a call that shows text; it takes the text that arrived before it."""
        taken, self._unshown = self._unshown, None
        try:
            await call
        except BaseException:
            if taken is not None and (self._unshown is None or taken < self._unshown):
                self._unshown = taken  # not shown: the next call answers for it
            raise
        if taken is None:
            return
        now = self._clock()
        if not self._seen and self._began is not None:
            self._seen = True
            self._observer.first_visible(self._waited + now - self._began)
        self._observer.visible(now - taken)

    def opened(self) -> None:
        self._open += 1
        self._observer.opened()

    def closed(self) -> None:
        if self._open > 0:
            self._open -= 1
            self._observer.closed()

    def _end(self) -> bool:
        """True the first time: the reply is counted once, its messages let go."""
        if self._ended:
            return False
        self._ended = True
        while self._open > 0:
            self.closed()
        return True


class _WatchedSurface(WrappedSurface):
    """A surface whose calls its ``ReplyWatch`` notes."""

    def __init__(self, inner: Surface, watch: ReplyWatch) -> None:
        super().__init__(inner)
        self._watch = watch

    async def open(self) -> LiveMessage:
        message = await self._inner.open()
        self._watch.opened()
        return _WatchedMessage(message, self._watch)

    async def send_once(self, text: str) -> None:
        await self._watch.showing(self._inner.send_once(text))


class _WatchedMessage:
    """A live message whose updates and close its ``ReplyWatch`` notes."""

    def __init__(self, inner: LiveMessage, watch: ReplyWatch) -> None:
        self._inner = inner
        self._watch = watch

    @property
    def handle(self) -> Mapping[str, str] | None:
        return self._inner.handle

    async def update(self, text: str) -> None:
        await self._watch.showing(self._inner.update(text))

    async def close(self, text: str, *, ok: bool) -> None:
        try:
            await self._watch.showing(self._inner.close(text, ok=ok))
        finally:
            self._watch.closed()
