"""Message states and transcripts, without a server."""

from __future__ import annotations

import pytest

from bridge.emulator.world.bus import EventBus
from bridge.emulator.world.transcript import IllegalTransition, MessageState, Transcript

PREP, INPUT, DONE, FAIL = (
    MessageState.PREPARING,
    MessageState.INPUTTING,
    MessageState.FINISHED,
    MessageState.FAILED,
)


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (PREP, PREP, True),
        (PREP, INPUT, True),
        (PREP, DONE, True),
        (PREP, FAIL, True),
        (INPUT, INPUT, True),
        (INPUT, PREP, False),
        (INPUT, DONE, True),
        (DONE, INPUT, False),
        (DONE, DONE, False),
        (FAIL, DONE, False),
    ],
)
def test_transitions(source: MessageState, target: MessageState, allowed: bool) -> None:
    """Messages only move forward, and never leave finished or failed."""
    assert source.can_become(target) is allowed


def test_final_message_refuses_changes() -> None:
    """Changing a finished message raises and records nothing."""
    transcript = Transcript(EventBus())
    transcript.add_user("u", "U")
    chat = transcript.add_conversation("single", ["u"])
    message = transcript.post(
        chat.id, sender_kind="bot", sender_id="b", via="t", state=INPUT, text="a"
    )
    transcript.change(message, state=DONE, text="ab")
    with pytest.raises(IllegalTransition):
        transcript.change(message, text="abc")
    assert [(c.state, c.text) for c in message.changes] == [(INPUT, "a"), (DONE, "ab")]


def test_single_chat_is_opened_once() -> None:
    """A user's single chat is created on first use and reused afterwards."""
    transcript = Transcript(EventBus())
    transcript.add_user("u", "U")
    first = transcript.single_chat_with("u")
    assert transcript.single_chat_with("u") is first
    assert first.open_conversation_id == f"oc-{first.id}"
