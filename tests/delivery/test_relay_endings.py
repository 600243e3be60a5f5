"""Tests for bridge.delivery.relay's endings: stop, the cut mark, each failure's notice.

Fake surfaces and scripted sources (``relay_fakes``); waits are on events, never on time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from bridge.config import PacingConfig
from bridge.config_chat import NoticesConfig
from bridge.core.endings import Ending
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.delivery.outcome import Cause, Failure, failure_of
from bridge.delivery.relay import relay
from bridge.errors import (
    LLMError,
    LLMPromptTooLong,
    LLMRateLimited,
    LLMTimeout,
    LLMUnreachable,
)
from tests.delivery.relay_fakes import FakeSurface, source

pytestmark = pytest.mark.anyio

NOTICES = NoticesConfig(
    stopped="（停）",
    cut="（截）",
    unreachable="（连不上）",
    timeout="（超时）",
    refused="（拒绝 {status}）",
    prompt_too_long="（太长）",
)
OPTIONS = PacingConfig(
    oneshot_window=0.05,
    min_interval=0.02,
    min_growth=1,
    max_idle=0.1,
    close_timeout=2.0,
    failure_notice="（中断）",
    placeholder="",
)


class Stop:
    """A StopSignal fired by the test."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.reason = "test"

    async def wait(self) -> None:
        await self.event.wait()


async def test_a_stop_closes_the_stream_at_once_and_the_message_as_stopped() -> None:
    """Stop while streaming: the source's context exits before the close, which is
    finished (ok) with the text so far and the stop mark; history-worthy result."""
    surface = FakeSurface("ai_card")
    stop = Stop()
    order: list[str] = []

    @asynccontextmanager
    async def model() -> AsyncIterator[AsyncIterator[LLMEvent]]:
        async def events() -> AsyncIterator[LLMEvent]:
            yield TextDelta("Part one")
            await surface.updated.wait()
            stop.event.set()
            await anyio.sleep_forever()
            yield End("stop")  # never reached

        try:
            yield events()
        finally:
            order.append("stream closed")

    original = surface.closing

    async def watch_close() -> None:
        await original.wait()
        order.append("message closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_close)
        result = await relay(model(), [surface], OPTIONS, notices=NOTICES, stop=stop)
    assert order == ["stream closed", "message closed"]
    assert surface.calls[-1] == ("close", "Part one\n\n（停）")
    assert (result.ok, result.ending, result.cause) == (True, Ending.STOPPED, Cause.STOPPED)
    assert result.error is None
    assert result.failure is None
    assert result.text == "Part one\n\n（停）"


async def test_a_stop_before_any_text_sends_nothing() -> None:
    """Stopped before the model said anything: no call at all, the stream closed."""
    surface = FakeSurface("ai_reply")
    stop = Stop()
    stop.event.set()
    result = await relay(source([], hang=True), [surface], OPTIONS, stop=stop)
    assert surface.calls == []
    assert result.ending is Ending.STOPPED


async def test_a_stop_after_the_end_is_ignored() -> None:
    """The model finished first: the answer is complete, the stop changes nothing."""
    surface = FakeSurface("ai_reply")
    stop = Stop()
    wide = OPTIONS.model_copy(update={"oneshot_window": 30.0})
    result = await relay(source(["All of it"]), [surface], wide, stop=stop)
    stop.event.set()
    assert surface.calls == [("send_once", "All of it")]
    assert result.ending is Ending.COMPLETE


async def test_a_length_cut_answer_ends_with_its_mark() -> None:
    """finish_reason "length": closed finished with the cut mark; ending CUT."""

    async def cut() -> AsyncIterator[LLMEvent]:
        yield TextDelta("Too long to fin")
        yield End("length")

    surface = FakeSurface("ai_reply")
    wide = OPTIONS.model_copy(update={"oneshot_window": 30.0})
    result = await relay(cut(), [surface], wide, notices=NOTICES)
    assert surface.calls == [("send_once", "Too long to fin\n\n（截）")]
    assert (result.ok, result.ending, result.cause) == (True, Ending.CUT, None)


@pytest.mark.parametrize(
    ("error", "cause", "notice"),
    [
        (LLMUnreachable("cannot connect"), Cause.UNREACHABLE, "（连不上）"),
        (LLMTimeout("timed out"), Cause.TIMEOUT, "（超时）"),
        (LLMRateLimited("rate limiting", status=429), Cause.REFUSED, "（拒绝 429）"),
        (LLMError("answered with an error", status=500), Cause.REFUSED, "（拒绝 500）"),
        (LLMPromptTooLong("too long", status=400), Cause.PROMPT_TOO_LONG, "（太长）"),
        (LLMError("closed the connection mid-answer"), Cause.INTERRUPTED, "（中断）"),
    ],
)
async def test_each_failure_cause_shows_its_own_notice(
    error: LLMError, cause: Cause, notice: str
) -> None:
    """The source's error picks the notice; the result carries the cause as a type."""
    surface = FakeSurface("ai_reply")
    result = await relay(source(["Half"], error=error), [surface], OPTIONS, notices=NOTICES)
    assert surface.calls[-1][1] == f"Half\n\n{notice}"
    assert result.ending is Ending.FAILED
    assert result.failure is not None
    assert result.failure.cause is cause
    assert result.cause is cause
    assert not result.ok


def test_failure_of_keeps_the_http_status() -> None:
    """A refusal keeps its status; a timeout has none."""
    assert failure_of(LLMError("x", status=401)) == Failure(Cause.REFUSED, "x (HTTP 401)", 401)
    assert failure_of(LLMTimeout("slow")).status is None
