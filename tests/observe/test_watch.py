"""`ReplyWatch`: first visible text, visible lag and open messages, seen from outside the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import pytest

from bridge.config import PacingConfig
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.delivery.outcome import RelayResult
from bridge.delivery.relay import relay
from bridge.errors import PlatformUnavailable
from bridge.observe.watch import ReplyWatch
from tests.delivery.relay_fakes import FakeSurface, source

pytestmark = pytest.mark.anyio

OPTIONS = PacingConfig(
    oneshot_window=0.05, min_interval=0.02, min_growth=1, max_idle=0.1, close_timeout=2.0
)
WORDS = [f"word{i} " for i in range(30)]


@dataclass
class Recorder:
    """A ReplyObserver that keeps what it was told."""

    told: list[tuple[str, object]] = field(default_factory=list)
    open: int = 0

    def began(self) -> None:
        self.told.append(("began", None))

    def opened(self) -> None:
        self.open += 1
        self.told.append(("opened", None))

    def closed(self) -> None:
        self.open -= 1
        self.told.append(("closed", None))

    def first_visible(self, seconds: float) -> None:
        self.told.append(("first_visible", seconds))

    def visible(self, lag: float) -> None:
        self.told.append(("visible", lag))

    def ended(self, result: RelayResult | None) -> None:
        self.told.append(("ended", result))

    def broke(self, error: BaseException) -> None:
        self.told.append(("broke", type(error).__name__))

    def said(self, what: str) -> list[object]:
        return [value for name, value in self.told if name == what]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def stream_of(events: AsyncIterator[LLMEvent]) -> AsyncIterator[AsyncIterator[LLMEvent]]:
    yield events


async def deltas(clock: Clock, timed: list[tuple[float, str]]) -> AsyncIterator[LLMEvent]:
    """Yield each text as if it arrived at its time."""
    for at, text in timed:
        clock.now = at
        yield TextDelta(text)
    yield End("stop")


async def test_lag_is_measured_from_the_oldest_text_a_call_newly_shows() -> None:
    """Text arriving at 101 and 102, shown at 103: first visible after waited + 3 s, lag 2 s."""
    clock, seen = Clock(), Recorder()
    watch = ReplyWatch(seen, clock=clock)
    live = await watch.surface(FakeSurface("ai_reply")).open()
    watch.began(waited=1.5)
    async with watch.events(stream_of(deltas(clock, [(101.0, "a"), (102.0, "b")]))) as events:
        async for event in events:
            if isinstance(event, End):
                break
    clock.now = 103.0
    await live.update("ab")
    clock.now = 104.0
    await live.close("ab", ok=True)  # nothing new: no lag sample
    assert seen.said("first_visible") == [1.5 + 103.0 - 100.0]
    assert seen.said("visible") == [2.0]
    assert seen.open == 0


async def test_text_a_failed_call_did_not_show_waits_for_the_next_call() -> None:
    """An update that fails leaves its text to the close, whose lag counts from the first text."""
    clock, seen = Clock(), Recorder()
    watch = ReplyWatch(seen, clock=clock)
    surface = FakeSurface("ai_reply", fail_update=True)
    live = await watch.surface(surface).open()
    watch.began(waited=0.0)
    async with watch.events(stream_of(deltas(clock, [(101.0, "a")]))) as events:
        async for event in events:
            if isinstance(event, End):
                break
    clock.now = 102.0
    with pytest.raises(PlatformUnavailable):
        await live.update("a")
    assert seen.said("visible") == []
    clock.now = 105.0
    await live.close("a", ok=True)
    assert seen.said("visible") == [4.0]
    assert seen.said("first_visible") == [5.0]


async def test_ending_lets_go_of_messages_still_counted_open_and_counts_once() -> None:
    """A reply that ends with a message still open is balanced; a second end is ignored."""
    seen = Recorder()
    watch = ReplyWatch(seen, clock=Clock())
    await watch.surface(FakeSurface("ai_reply")).open()
    assert seen.open == 1
    watch.broke(RuntimeError("bug"))
    watch.ended(None)
    assert seen.open == 0
    assert seen.said("broke") == ["RuntimeError"]
    assert seen.said("ended") == []


async def test_through_the_real_relay_every_open_is_let_go_and_text_is_seen_once_first() -> None:
    """A streamed reply through the relay: one open, one close, one first visible text."""
    seen = Recorder()
    watch = ReplyWatch(seen)
    surface = FakeSurface("ai_reply")
    watch.began(waited=0.0)

    @asynccontextmanager
    async def model() -> AsyncIterator[AsyncIterator[LLMEvent]]:
        yield source(WORDS, gap=0.01)

    result = await relay(watch.events(model()), [watch.surface(surface)], OPTIONS)
    watch.ended(result)
    assert result.ok
    assert len(seen.said("opened")) == len(seen.said("closed")) == result.opens == 1
    assert len(seen.said("first_visible")) == 1
    # Each call that showed new text gave one lag sample; the close may add nothing new.
    assert 1 <= len(seen.said("visible")) <= result.updates + result.closes
    assert seen.said("ended") == [result]


async def test_a_cancelled_reply_is_reported_broken_by_cancellation() -> None:
    """Cancellation ends the watch as broken, and its open message is let go."""
    seen = Recorder()
    watch = ReplyWatch(seen)
    surface = FakeSurface("ai_reply")

    async def run() -> None:
        try:
            await relay(source(WORDS[:5], hang=True), [watch.surface(surface)], OPTIONS)
        except BaseException as exc:
            watch.broke(exc)
            raise

    with anyio.move_on_after(1.0):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await surface.updated.wait()
            tg.cancel_scope.cancel()
    assert seen.said("broke") == ["CancelledError"]
    assert seen.open == 0
