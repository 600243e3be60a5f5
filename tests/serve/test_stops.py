"""Stopping an answer end to end: stop words, the interrupt policy, the stop button.

A real ``Bridge`` serves against the emulator over loopback. The model stalls after a
few chunks (``ModelFault(kind="stall")``) so that an answer is surely streaming when the
stop arrives: events decide the order, not timing. Every stop must close the model's
stream (the simulated model records the completion as ``disconnected``) and close the
message with the text so far and the stopped mark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bridge.core.frames import normalize
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import InboundView, MessageView
from bridge.emulator.model.script import ModelFault
from tests.serve.conftest import Served, answer_in

STOPPED = "（已停止）"
STOP_REPLY = "好的，已停止。"
LONG = "[[len=600]]"
PLACEHOLDER = "思考中…"


def stall_after_first_chunks(served: Served) -> None:
    """The next completion sends 4 chunks, then waits until the test releases it."""
    served.model.add_fault(ModelFault(kind="stall", after_chunks=4, seconds=60.0, count=1))


async def showing_text(control: EmulatorControl, conversation: str, after: float) -> MessageView:
    """The bot's answer in ``conversation`` once it streams model text (not the placeholder)."""

    def streaming(message: MessageView) -> bool:
        return (
            message.sender_kind == "bot"
            and message.conversation_id == conversation
            and message.created_at >= after
            and message.state == "inputting"
            and bool(message.text.strip())
            and message.text != PLACEHOLDER
        )

    with anyio.fail_after(20):
        async with control.events() as events:
            for message in await control.transcript(conversation):
                if streaming(message):
                    return message
            async for event in events:
                if event.message is not None and streaming(event.message):
                    return event.message
    raise AssertionError("the event stream ended before the answer streamed")


async def long_answer_streaming(served: Served, user: str, conversation: str) -> InboundView:
    """``user`` asks for a long answer in ``conversation``; returns once its text streams
    and the model has stalled after its first chunks (``stall_after_first_chunks``)."""
    stall_after_first_chunks(served)
    asked = await served.control.inbound(user, conversation, f"讲个长故事 {LONG}")
    await showing_text(served.control, conversation, asked.message.created_at)
    return asked


async def bot_messages(control: EmulatorControl, conversation: str) -> list[MessageView]:
    """The bot's messages in ``conversation``, oldest first."""
    return [m for m in await control.transcript(conversation) if m.sender_kind == "bot"]


def changes_since(message: MessageView, moment: float) -> list[str]:
    """The states of the visible changes of ``message`` from ``moment`` on, in order."""
    return [change.state for change in message.changes if change.at >= moment]


def assert_stopped(answer: MessageView, sent: str) -> None:
    """``answer`` closed finished with the model's text so far and the stopped mark."""
    assert answer.state == "finished"
    assert answer.text.endswith(STOPPED)
    shown = answer.text.removesuffix(STOPPED).strip()
    assert shown, "the text so far is kept"
    assert normalize(sent).startswith(shown)


@pytest.mark.anyio
async def test_a_stop_word_stops_the_answer_and_drops_the_queued_turns(
    serve: Callable[..., Any],
) -> None:
    """停止 closes the streaming answer as stopped, the model's stream is closed, the
    messages waiting behind it are never answered, and the stop word gets one reply."""
    async with serve() as served:
        await long_answer_streaming(served, "alice", "cid-alice")
        await served.control.inbound("alice", "cid-alice", f"第二个问题 {LONG}")
        await served.control.inbound("alice", "cid-alice", f"第三个问题 {LONG}")
        stop = await served.control.inbound("alice", "cid-alice", "停止")
        emission = await served.model.wait_finished(0)
        assert await served.bridge.pipeline.drain(10)
        messages = await bot_messages(served.control, "cid-alice")
    assert emission.outcome == "disconnected"
    assert served.model.requests == 1  # the queued questions never reached the model
    assert [m.text for m in messages[1:]] == [STOP_REPLY]
    assert_stopped(messages[0], emission.text)
    # Nothing but the closing shows after the stop: no update goes out in between.
    assert changes_since(messages[0], stop.message.created_at) == ["finished"]
    assert served.bridge.pipeline.stats.dropped == 2


@pytest.mark.anyio
async def test_a_stop_word_from_someone_else_in_a_group_changes_nothing(
    serve: Callable[..., Any],
) -> None:
    """In a group only the one who asked may stop an answer: bob's 停止 leaves alice's
    answer running to its end; bob's stop word gets its one reply after it."""
    async with serve() as served:
        asked = await long_answer_streaming(served, "alice", "cid-group")
        await served.control.inbound("bob", "cid-group", "停止")
        served.model.release_stalls()
        answer = await answer_in(served.control, "cid-group", asked.message.created_at)
        emission = await served.model.wait_finished(0)
        assert await served.bridge.pipeline.drain(10)
        messages = await bot_messages(served.control, "cid-group")
    assert emission.outcome == "complete"
    assert answer.state == "finished"
    assert answer.text == normalize(emission.text)
    assert [m.text for m in messages] == [answer.text, STOP_REPLY]
    assert served.model.requests == 1


@pytest.mark.anyio
async def test_interrupt_stops_the_answer_and_answers_the_newer_message(
    serve: Callable[..., Any],
) -> None:
    """Under on_new_message = "interrupt" a new message stops the streaming answer
    (stopped mark, model stream closed) and is answered next, in full."""
    async with serve(chat={"on_new_message": "interrupt"}) as served:
        await long_answer_streaming(served, "alice", "cid-alice")
        newer = await served.control.inbound("alice", "cid-alice", "算了，换个问题 [[len=40]]")
        stopped = await served.model.wait_finished(0)
        answered = await served.model.wait_finished(1)
        assert await served.bridge.pipeline.drain(10)
        messages = await bot_messages(served.control, "cid-alice")
    assert stopped.outcome == "disconnected"
    assert answered.outcome == "complete"
    assert "换个问题" in answered.user
    assert len(messages) == 2
    assert_stopped(messages[0], stopped.text)
    assert changes_since(messages[0], newer.message.created_at) == ["finished"]
    assert messages[1].created_at >= newer.message.created_at
    assert messages[1].state == "finished"
    assert messages[1].text == normalize(answered.text)


@pytest.mark.anyio
async def test_queue_keeps_the_answer_and_answers_the_newer_message_after_it(
    serve: Callable[..., Any],
) -> None:
    """The default policy, "queue": a new message waits, and both answers are whole."""
    async with serve() as served:
        await long_answer_streaming(served, "alice", "cid-alice")
        await served.control.inbound("alice", "cid-alice", "下一个问题 [[len=40]]")
        served.model.release_stalls()
        whole = await served.model.wait_finished(0)
        after = await served.model.wait_finished(1)
        assert await served.bridge.pipeline.drain(10)
        messages = await bot_messages(served.control, "cid-alice")
    assert (whole.outcome, after.outcome) == ("complete", "complete")
    assert [m.text for m in messages] == [normalize(whole.text), normalize(after.text)]


@pytest.mark.anyio
async def test_a_stopped_answer_goes_into_history_marked_stopped(
    serve: Callable[..., Any],
) -> None:
    """The next question's prompt holds the stopped answer as shown: text so far + mark."""
    async with serve() as served:
        await long_answer_streaming(served, "alice", "cid-alice")
        await served.control.inbound("alice", "cid-alice", "停止")
        stopped = await served.model.wait_finished(0)
        assert await served.bridge.pipeline.drain(10)
        [answer, _] = await bot_messages(served.control, "cid-alice")
        await served.control.inbound("alice", "cid-alice", "继续说")
        follow_up = await served.model.wait_finished(1)
    assert stopped.outcome == "disconnected"
    remembered = [m.content for m in follow_up.prompt if m.role == "assistant"]
    assert remembered == [answer.text]
    assert remembered[0].endswith(STOPPED)
