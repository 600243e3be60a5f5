"""End to end: answers stream through every surface with a bounded number of calls.

The simulated model and DingTalk are the emulator, over loopback; everything between them
is production code (see ``conftest``). Each test checks what a chat user ends up seeing
(the emulator's transcript) and what it cost (the emulator's call log).
"""

from __future__ import annotations

import math

import anyio
import pytest

from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import MessageView
from tests.e2e.conftest import (
    ONE_CALL,
    ONE_SHOT,
    PACING,
    STREAMING,
    SURFACES,
    EndToEnd,
    assert_rejoins,
    prose,
    streamed_calls,
)

pytestmark = pytest.mark.anyio

STATE_ORDER = ("preparing", "inputting", "finished")
#: A window no test machine can overrun, for the ~0.3 s answers meant to end inside it.
WIDE_WINDOW = PACING.model_copy(update={"oneshot_window": 1.5})
#: A small platform limit, so a ~1000-character answer needs several messages.
SMALL_LIMIT = PACING.model_copy(update={"message_limit_chars": 400})
#: Characters a second for long answers whose pace does not matter.
FAST_PACE = 5000.0


def assert_typewriter(message: MessageView, final: str) -> None:
    """The message only moved forward: its states in order, its text always a prefix."""
    ranks = [STATE_ORDER.index(change.state) for change in message.changes]
    assert ranks == sorted(ranks)
    assert message.changes[-1].state == "finished"
    lengths = [len(change.text) for change in message.changes]
    assert lengths == sorted(lengths)
    assert all(final.startswith(change.text) for change in message.changes)


@pytest.mark.parametrize("surface", STREAMING)
async def test_two_second_answer_streams_within_the_call_bound(e2e: EndToEnd, surface: str) -> None:
    """A ~2 s answer takes at most ⌈duration/min_interval⌉+1 updates and ends exact."""
    asked = await e2e.ask("tell me a story")
    text = e2e.script(prose(400))

    started = anyio.current_time()
    result = await e2e.reply(asked.turn_for(surface), [surface])
    duration = anyio.current_time() - started

    assert result.ok
    assert (result.surface, result.opens, result.closes, result.splits) == (surface, 1, 1, 0)
    assert 2 <= result.updates <= math.ceil(duration / PACING.min_interval) + 1
    calls = await e2e.calls()
    assert [c.operation for c in calls] == streamed_calls(surface, result.updates)
    assert all(c.status == 200 for c in calls)
    [message] = await e2e.bot_messages()
    assert message.state == "finished"
    assert message.text == text == result.text
    assert_typewriter(message, text)
    [emission] = e2e.simulator.emissions()
    assert emission.outcome == "complete"
    assert message.text == emission.text
    await e2e.assert_all_closed()


@pytest.mark.parametrize("surface", ONE_SHOT)
async def test_two_second_answer_on_a_one_shot_surface_is_one_call(
    e2e: EndToEnd, surface: str
) -> None:
    """A surface that cannot stream shows a ~2 s answer once, finished, in one call."""
    asked = await e2e.ask("tell me a story")
    text = e2e.script(prose(400))

    result = await e2e.reply(asked.turn_for(surface), [surface])

    assert result.ok
    assert (result.surface, result.opens, result.updates, result.send_once) == (surface, 0, 0, 1)
    assert [c.operation for c in await e2e.calls()] == [ONE_CALL[surface]]
    [message] = await e2e.bot_messages()
    assert (message.state, message.text) == ("finished", text)
    await e2e.assert_all_closed()


@pytest.mark.parametrize("surface", SURFACES)
async def test_short_answer_is_one_call(e2e: EndToEnd, surface: str) -> None:
    """An answer that ends inside the one-shot window is one DingTalk call, finished."""
    asked = await e2e.ask("hi")
    text = e2e.script(prose(60))  # ~0.3 s at the model's pace

    result = await e2e.reply(asked.turn_for(surface), [surface], pacing=WIDE_WINDOW)

    assert result.ok
    assert (result.opens, result.updates, result.send_once) == (0, 0, 1)
    assert [c.operation for c in await e2e.calls()] == [ONE_CALL[surface]]
    [message] = await e2e.bot_messages()
    assert (message.state, message.text) == ("finished", text)
    await e2e.assert_all_closed()


@pytest.mark.parametrize("surface", ["ai_stepwise", "ai_card"])
async def test_long_answer_is_split_into_finished_messages(e2e: EndToEnd, surface: str) -> None:
    """An answer over the message limit continues in new messages that rejoin it."""
    e2e.set_pace(FAST_PACE)
    asked = await e2e.ask("tell me a long story")
    text = e2e.script(prose(1000))

    result = await e2e.reply(asked.turn_for(surface), [surface], pacing=SMALL_LIMIT)

    assert result.ok
    assert result.text == text
    messages = await e2e.bot_messages()
    n = len(messages)
    assert n >= 3
    assert (result.opens, result.closes, result.splits) == (n, n, n - 1)
    assert [m.state for m in messages] == ["finished"] * n
    assert all(len(m.text) <= SMALL_LIMIT.message_limit_chars for m in messages)
    assert_rejoins([m.text for m in messages], text)
    await e2e.assert_all_closed()


async def test_long_reply_mode_answer_continues_on_the_next_surface(e2e: EndToEnd) -> None:
    """A conversationToken holds one message: the continuation opens on the next surface."""
    e2e.set_pace(FAST_PACE)
    asked = await e2e.ask("tell me a long story")
    text = e2e.script(prose(1000))

    result = await e2e.reply(asked.action, ["ai_reply", "ai_stepwise"], pacing=SMALL_LIMIT)

    assert result.ok
    messages = await e2e.bot_messages()
    assert len(messages) >= 3
    first, *continued = messages
    assert first.via == Operation.AI_REPLY
    assert [m.via for m in continued] == [Operation.AI_PREPARE] * len(continued)
    assert [m.state for m in messages] == ["finished"] * len(messages)
    assert_rejoins([m.text for m in messages], text)
    # The refused second open is reported, never retried on the used token.
    assert [name for name, _ in e2e.surface_errors] == ["ai_reply"]
    replies = await e2e.calls(Operation.AI_REPLY)
    assert all(c.status == 200 for c in replies)
    await e2e.assert_all_closed()


async def test_long_answer_with_reply_mode_alone_stays_whole(e2e: EndToEnd) -> None:
    """With only a conversationToken (no surface to continue on), nothing is cut off."""
    e2e.set_pace(FAST_PACE)
    asked = await e2e.ask("tell me a long story", conversation="cid-wand-alice")
    text = e2e.script(prose(1000))

    result = await e2e.reply(asked.action, ["ai_reply"], pacing=SMALL_LIMIT)

    assert result.ok
    (message,) = await e2e.bot_messages("cid-wand-alice")
    assert message.state == "finished"
    assert message.text == text
    assert result.splits == 0
    await e2e.assert_all_closed()


@pytest.mark.parametrize("surface", ONE_SHOT)
async def test_long_answer_on_a_one_shot_surface_is_sent_in_pieces(
    e2e: EndToEnd, surface: str
) -> None:
    """Over the message limit, a one-shot surface sends consecutive finished pieces."""
    e2e.set_pace(FAST_PACE)
    asked = await e2e.ask("tell me a long story")
    text = e2e.script(prose(1000))

    result = await e2e.reply(asked.turn_for(surface), [surface], pacing=SMALL_LIMIT)

    assert result.ok
    messages = await e2e.bot_messages()
    assert len(messages) >= 3
    assert [c.operation for c in await e2e.calls()] == [ONE_CALL[surface]] * len(messages)
    assert [m.state for m in messages] == ["finished"] * len(messages)
    assert all(len(m.text) <= SMALL_LIMIT.message_limit_chars for m in messages)
    assert_rejoins([m.text for m in messages], text)
    await e2e.assert_all_closed()
