"""Tests for bridge.delivery.relay: one reply from fake event sources to fake surfaces.

Sending once or streaming, source errors and cancellation, falling back to the next
surface, and splitting long replies. The relay under the rate budget is in
test_relay_budget.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from bridge.core.events import LLMEvent
from bridge.core.frames import normalize
from bridge.delivery.relay import RelayResult, relay
from bridge.errors import LLMError, PlatformPermissionDenied, PlatformUnavailable
from tests.delivery.relay_fakes import FakeSurface, source
from tests.delivery.relay_options import FULL, NOTICE, OPTIONS, WIDE_WINDOW, WORDS

pytestmark = pytest.mark.anyio


async def test_a_short_answer_is_one_send_once() -> None:
    """An answer that ends inside the window is exactly one send_once, nothing else."""
    surface = FakeSurface("ai_reply")
    result = await relay(source(["Hello", " world\n"]), [surface], WIDE_WINDOW)
    assert surface.calls == [("send_once", "Hello world")]
    assert result == RelayResult("Hello world", True, "ai_reply", 0, 0, 0, 1, 0)


async def test_a_quick_answer_over_the_limit_is_sent_once_in_pieces() -> None:
    """Inside the window but over the message limit: consecutive finished pieces."""
    surface = FakeSurface("robot_send", can_stream=False)
    small = WIDE_WINDOW.model_copy(update={"message_limit_chars": 200})
    result = await relay(source(["x" * 150, "y" * 150]), [surface], small)
    assert surface.kinds() == ["send_once", "send_once"]
    assert "".join(text for _, text in surface.calls) == "x" * 150 + "y" * 150
    assert (result.ok, result.opens, result.send_once) == (True, 0, 2)


async def test_a_surface_that_cannot_split_gets_the_quick_answer_whole() -> None:
    """Reply mode holds one message: a quick long answer goes out whole, not in pieces."""
    surface = FakeSurface("ai_reply", can_split=False)
    small = WIDE_WINDOW.model_copy(update={"message_limit_chars": 200})
    result = await relay(source(["x" * 150, "y" * 150]), [surface], small)
    assert surface.calls == [("send_once", "x" * 150 + "y" * 150)]
    assert (result.ok, result.send_once) == (True, 1)


async def test_a_long_answer_streams_open_updates_close() -> None:
    """A slow answer opens, updates with growing full text, then closes with all of it."""
    surface = FakeSurface("ai_reply")
    result = await relay(source(WORDS, gap=0.01), [surface], OPTIONS)
    kinds = surface.kinds()
    assert kinds[0] == "open"
    assert kinds[-1] == "close"
    assert set(kinds[1:-1]) == {"update"}
    updates = [text for kind, text in surface.calls if kind == "update"]
    assert all(FULL.startswith(text) for text in updates)
    assert [len(t) for t in updates] == sorted(len(t) for t in updates)
    assert surface.calls[-1] == ("close", FULL)
    assert surface.max_in_flight == 1
    assert (result.ok, result.text, result.opens, result.closes) == (True, FULL, 1, 1)
    assert result.updates == len(updates)


async def test_an_async_context_manager_source_is_entered_and_exited() -> None:
    """A source given as an async context manager is entered and exited by the relay."""
    states: list[str] = []

    @asynccontextmanager
    async def stream() -> AsyncIterator[AsyncIterator[LLMEvent]]:
        states.append("entered")
        yield source(["Hi"])
        states.append("exited")

    result = await relay(stream(), [FakeSurface("ai_reply")], WIDE_WINDOW)
    assert states == ["entered", "exited"]
    assert result.send_once == 1


async def test_a_source_error_mid_stream_closes_with_partial_text_and_notice() -> None:
    """An LLMError after the open: the message is closed ok=False with partial + notice."""
    surface = FakeSurface("ai_reply")
    result = await relay(
        source(WORDS[:10], gap=0.01, error=LLMError("stream broke")), [surface], OPTIONS
    )
    partial = normalize("".join(WORDS[:10]))
    assert surface.calls[-1] == ("close_failed", f"{partial}\n\n{NOTICE}")
    assert surface.kinds().count("open") == 1
    assert not result.ok
    assert result.error == "stream broke"


async def test_a_source_error_in_the_window_sends_partial_text_and_notice() -> None:
    """An LLMError before anything opened: one send_once of partial text + notice."""
    surface = FakeSurface("ai_reply")
    result = await relay(source(["Hi"], error=LLMError("boom")), [surface], WIDE_WINDOW)
    assert surface.calls == [("send_once", f"Hi\n\n{NOTICE}")]
    assert not result.ok


async def test_an_unexpected_source_error_is_raised_after_the_close() -> None:
    """A non-LLM error from the source still closes the message, then propagates."""
    surface = FakeSurface("ai_reply")
    with pytest.raises(RuntimeError, match="bug"):
        await relay(source(WORDS[:10], gap=0.01, error=RuntimeError("bug")), [surface], OPTIONS)
    assert surface.kinds()[0] == "open"
    assert surface.kinds()[-1] == "close_failed"


async def test_cancelling_the_relay_mid_stream_still_closes_the_message() -> None:
    """Cancellation while streaming: the message gets its close, then cancellation goes on."""
    surface = FakeSurface("ai_reply")
    outcome: list[str] = []

    async def relayed() -> None:
        try:
            await relay(source(WORDS[:5], hang=True), [surface], OPTIONS)
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(relayed)
        await surface.updated.wait()
        tg.cancel_scope.cancel()
    partial = normalize("".join(WORDS[:5]))
    assert outcome == ["cancelled"]
    assert surface.kinds()[0] == "open"
    assert surface.calls[-1] == ("close_failed", f"{partial}\n\n{NOTICE}")
    assert surface.kinds().count("close_failed") == 1


async def test_cancelling_during_an_update_in_flight_still_closes() -> None:
    """Cancellation while an update call hangs: the update is abandoned, the close is sent."""
    surface = FakeSurface("ai_reply", update_gate=anyio.Event())

    async with anyio.create_task_group() as tg:
        tg.start_soon(relay, source(WORDS, gap=0.01), [surface], OPTIONS)
        await surface.updated.wait()
        surface.update_gate = None  # the close must not hang on the gate
        tg.cancel_scope.cancel()
    assert surface.kinds()[-1] == "close_failed"
    assert surface.calls[-1][1].endswith(NOTICE)


async def test_an_open_denied_moves_to_the_next_surface() -> None:
    """open() raising PlatformPermissionDenied: reported, and the next surface streams."""
    first = FakeSurface("ai_reply", fail_open=True)
    second = FakeSurface("ai_card")
    errors: list[tuple[str, Exception]] = []
    result = await relay(
        source(WORDS, gap=0.01),
        [first, second],
        OPTIONS,
        on_surface_error=lambda s, e: errors.append((s.name, e)),
    )
    assert first.kinds() == ["open"]
    assert second.kinds()[0] == "open"
    assert second.calls[-1] == ("close", FULL)
    assert [(name, type(e)) for name, e in errors] == [("ai_reply", PlatformPermissionDenied)]
    assert result.surface == "ai_card"


async def test_no_streaming_surface_sends_the_final_text_once() -> None:
    """When no surface can stream, the final text goes once to the first that takes it."""
    card = FakeSurface("ai_card", fail_open=True, fail_send=True)
    webhook = FakeSurface("robot_webhook", can_stream=False, fail_send=True)
    robot = FakeSurface("robot_send", can_stream=False)
    result = await relay(source(WORDS, gap=0.01), [card, webhook, robot], OPTIONS)
    assert card.kinds() == ["open", "send_once"]
    assert webhook.calls == [("send_once", FULL)]
    assert robot.calls == [("send_once", FULL)]
    assert (result.ok, result.surface, result.send_once, result.opens) == (
        True,
        "robot_send",
        1,
        0,
    )


async def test_a_failing_close_falls_back_to_send_once_on_the_next_surface() -> None:
    """close() failing: the full final text is sent once through the next surface."""
    first = FakeSurface("ai_reply", fail_close=True)
    second = FakeSurface("robot_webhook", can_stream=False)
    result = await relay(source(WORDS, gap=0.01), [first, second], OPTIONS)
    assert first.kinds()[-1] == "close"
    assert second.calls == [("send_once", FULL)]
    assert result.ok
    assert result.surface == "robot_webhook"


async def test_failing_updates_are_dropped_and_the_close_still_sent() -> None:
    """Updates that fail stop after a few; the close carries the complete text."""
    surface = FakeSurface("ai_reply", fail_update=True)
    result = await relay(source(WORDS, gap=0.01), [surface], OPTIONS)
    assert surface.kinds().count("update") == 3
    assert surface.calls[-1] == ("close", FULL)
    assert result.ok
    assert result.updates == 0


async def test_a_long_reply_is_split_into_continued_messages() -> None:
    """Past the message limit the reply continues in a new message on the same surface."""
    options = OPTIONS.model_copy(update={"message_limit_chars": 200})
    paragraphs = [f"Paragraph {i}: " + "text " * 11 + "text\n\n" for i in range(8)]
    surface = FakeSurface("ai_card")
    result = await relay(source(paragraphs, gap=0.01), [surface], options)
    closes = [text for kind, text in surface.calls if kind == "close"]
    assert result.splits == len(closes) - 1 >= 2
    assert surface.kinds().count("open") == len(closes)
    assert all(len(text) <= 200 for _, text in surface.calls)
    assert "\n\n".join(closes) == normalize("".join(paragraphs))


#: A quick 450-character answer: sent once, as three finished pieces of 150.
QUICK_PIECES = WIDE_WINDOW.model_copy(
    update={"message_limit_chars": 200, "oneshot_max_chars": 1000}
)


async def test_a_failed_piece_continues_on_the_next_surface_without_repeats() -> None:
    """Piece 2 of 3 fails on A: B gets pieces 2 and 3 only, and 3 sends are counted."""
    first = FakeSurface("robot_webhook", can_stream=False, fail_send_at=2)
    second = FakeSurface("robot_send", can_stream=False)
    pieces = ["a" * 150, "b" * 150, "c" * 150]
    errors: list[tuple[str, Exception]] = []
    result = await relay(
        source(["\n\n".join(pieces)]),
        [first, second],
        QUICK_PIECES,
        on_surface_error=lambda s, e: errors.append((s.name, e)),
    )
    assert first.calls == [("send_once", pieces[0]), ("send_once", pieces[1])]
    assert second.calls == [("send_once", pieces[1]), ("send_once", pieces[2])]
    assert [(name, type(e)) for name, e in errors] == [("robot_webhook", PlatformUnavailable)]
    assert (result.ok, result.surface, result.send_once) == (True, "robot_send", 3)


async def test_pieces_reaching_nobody_are_reported_undelivered() -> None:
    """When no surface takes the rest, the reply is not ok; the delivered pieces count."""
    only = FakeSurface("robot_send", can_stream=False, fail_send_at=2)
    result = await relay(source(["\n\n".join(["a" * 150] * 3)]), [only], QUICK_PIECES)
    assert only.kinds() == ["send_once", "send_once"]
    assert (result.ok, result.surface, result.send_once) == (False, None, 1)


async def test_continued_messages_stay_on_the_surface_that_took_over() -> None:
    """A long answer with nothing to stream: once A fails a message, the rest go to B."""
    first = FakeSurface("robot_webhook", can_stream=False, fail_send_at=2)
    second = FakeSurface("robot_send", can_stream=False)
    options = OPTIONS.model_copy(update={"message_limit_chars": 200})
    paragraphs = [f"Paragraph {i}: " + "text " * 11 + "text\n\n" for i in range(8)]
    result = await relay(source(paragraphs, gap=0.01), [first, second], options)
    assert first.kinds() == ["send_once", "send_once"]
    sent = [text for _, text in first.calls[:1] + second.calls]
    assert "\n\n".join(sent) == normalize("".join(paragraphs))
    assert (result.ok, result.surface, result.send_once) == (True, "robot_send", len(sent))
