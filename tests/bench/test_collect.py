"""Tests for bridge.bench.collect: joining the emulator's records per reply."""

from __future__ import annotations

from typing import Any

from bridge.bench.collect import Sent, calls_by_token, emitted_times, observations
from bridge.bench.scenario import Scenario, build_replies
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import CallView, ChangeView, MessageView
from bridge.emulator.model.reply import EmissionView, EmittedChunk


def call(seq: int, token: str, status: int = 200) -> CallView:
    return CallView(
        seq=seq,
        operation=Operation.AI_REPLY,
        app="app",
        method="POST",
        path="/v1.0/aiInteraction/reply",
        request={"conversationToken": token, "contentType": "ai_card"},
        status=status,
        response={},
        error_code=None,
        latency=0.001,
        at=1.0,
    )


def message(conversation: str, sender: str, state: Any, changes: list[ChangeView]) -> MessageView:
    return MessageView(
        id=f"m-{conversation}-{sender}",
        conversation_id=conversation,
        sender_kind=sender,
        sender_id=sender,
        text=changes[-1].text,
        state=state,
        via="aiInteraction.reply",
        created_at=changes[0].at,
        changes=changes,
    )


def emission(user: str) -> EmissionView:
    return EmissionView(
        id="e1",
        model="m",
        user=user,
        stream=True,
        status=200,
        outcome="complete",
        started_at=0.0,
        finished_at=2.1,
        chunks=[
            EmittedChunk(at=0.5, field="reasoning_content", text="hmm"),
            EmittedChunk(at=1.0, field="content", text="ab"),
            EmittedChunk(at=2.0, field="content", text="c"),
        ],
    )


def test_calls_are_counted_per_token_with_rejections() -> None:
    """Every call naming a token counts; 403 and 429 are also counted as rejected."""
    counted = calls_by_token([call(1, "t1"), call(2, "t1", 403), call(3, "t2"), call(4, "t1", 429)])
    assert counted == {"t1": (3, 2), "t2": (1, 0)}


def test_emitted_times_cover_the_answer_only() -> None:
    """Reasoning chunks are not part of the answer; each character gets its chunk's time."""
    assert emitted_times(emission("u")) == ("abc", (1.0, 1.0, 2.0))


def test_observations_join_messages_emissions_and_calls() -> None:
    """The conversation finds the bot message, the prompt the emission, the token the calls."""
    spec = build_replies(Scenario(replies=1, concurrency=1))[0]
    sent = [Sent(spec, "cid-1", "t1", user_at=0.2)]
    messages = [
        message("cid-1", "user", "finished", [ChangeView(at=0.2, state="finished", text="hi")]),
        message(
            "cid-1",
            "bot",
            "finished",
            [
                ChangeView(at=1.5, state="inputting", text="ab"),
                ChangeView(at=2.2, state="finished", text="abc"),
            ],
        ),
        message("cid-2", "bot", "inputting", [ChangeView(at=1.0, state="inputting", text="x")]),
    ]
    found = observations(sent, messages, [emission(spec.prompt)], {"t1": (2, 0)})
    assert len(found) == 1
    seen = found[0]
    assert seen.answer == "abc"
    assert seen.model_end_at == 2.0
    assert [(c.at, c.text, c.final) for c in seen.changes] == [
        (1.5, "ab", False),
        (2.2, "abc", True),
    ]
    assert (seen.calls, seen.rejected, seen.closed) == (2, 0, True)


def test_a_reply_without_a_bot_message_is_undelivered() -> None:
    """No message at all: nothing is left open, but the reply was not delivered."""
    spec = build_replies(Scenario(replies=1, concurrency=1))[0]
    found = observations([Sent(spec, "cid-9", "t9", user_at=0.0)], [], [], {})
    assert found[0].closed
    assert not found[0].delivered
    assert found[0].answer == ""


def test_a_message_left_inputting_is_unclosed() -> None:
    """A bot message still inputting after the reply ended is counted as unclosed."""
    spec = build_replies(Scenario(replies=1, concurrency=1))[0]
    open_message = message(
        "cid-1", "bot", "inputting", [ChangeView(at=1.0, state="inputting", text="ab")]
    )
    found = observations([Sent(spec, "cid-1", "t1", user_at=0.0)], [open_message], [], {})
    assert not found[0].closed
    assert found[0].delivered
