"""The push door: targets are parsed or refused, pushes become Turns and run through answer."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.delivery.relay import RelayResult
from bridge.errors import ConfigError, InboundError
from bridge.inbound.push import (
    PushDoor,
    PushRequest,
    PushTarget,
    parse_target,
    push_turn,
    read_push_request,
)
from bridge.turn import ConversationType, Turn

BOTH_FORMS = "'user:<unionId>' or 'group:<openConversationId>'"


@pytest.mark.parametrize(
    ("to", "target"),
    [
        ("user:union-1", PushTarget("user", "union-1")),
        ("group:cid-group", PushTarget("group", "cid-group")),
        ("group:cid:with:colons", PushTarget("group", "cid:with:colons")),
    ],
)
def test_targets_parse(to: str, target: PushTarget) -> None:
    """user:<unionId> and group:<openConversationId> parse, and print back as given."""
    assert parse_target(to) == target
    assert str(target) == to


@pytest.mark.parametrize("to", ["", "user", "user:", "group:", ":x", "phone:1", "User:x"])
def test_other_targets_are_refused_naming_both_forms(to: str) -> None:
    """Anything else is a ValueError that names both forms and what was given."""
    with pytest.raises(ValueError, match=r"^must be") as caught:
        parse_target(to)
    assert str(caught.value) == f"must be {BOTH_FORMS}, got {to!r}"


@pytest.mark.parametrize("to", ["user:a b", "group:x\ud800", "user:" + "u" * 300])
def test_a_target_id_is_checked_like_every_platform_id(to: str) -> None:
    """The id after user:/group: follows the id rules: no spaces, surrogates or huge lengths."""
    with pytest.raises(ValueError, match="names an id that"):
        parse_target(to)


def test_push_request_is_read_and_trimmed() -> None:
    """A push body names its target and prompt; the only assistant is the default."""
    request = read_push_request({"to": "group:cid", "prompt": " 日报 "}, ["helpdesk"])
    assert request == PushRequest("helpdesk", PushTarget("group", "cid"), "日报")


@pytest.mark.parametrize(
    ("body", "assistants", "message"),
    [
        ({"to": "phone:1", "prompt": "x"}, ["a"], f"to must be {BOTH_FORMS}, got 'phone:1'"),
        ({"to": 7, "prompt": "x"}, ["a"], f"to must be {BOTH_FORMS}"),
        ({"to": "user:u", "prompt": "  "}, ["a"], "prompt must be a non-empty string"),
        ({"to": "user:u", "prompt": "x"}, ["a", "b"], "assistant is required"),
        ({"to": "user:u", "prompt": "x", "assistant": "c"}, ["a", "b"], "no assistant named 'c'"),
    ],
)
def test_bad_push_bodies_are_400(body: dict[str, Any], assistants: list[str], message: str) -> None:
    """Each malformed push body is an InboundError 400 that says what is wrong."""
    with pytest.raises(InboundError) as caught:
        read_push_request(body, assistants)
    assert caught.value.status == 400
    assert caught.value.message.startswith(message)


def test_user_push_turn() -> None:
    """A user push is a single chat reached by unionId, with the robot code and push key."""
    request = PushRequest("helpdesk", PushTarget("user", "union-1"), "早报")
    turn = push_turn(request, robot_code="rb", received_at=3.0)
    assert (turn.source, turn.proactive, turn.text) == ("push", True, "早报")
    assert turn.conversation_type is ConversationType.SINGLE
    assert turn.conversation_key == "push:user:union-1"
    assert (turn.handles.union_id, turn.handles.open_conversation_id) == ("union-1", None)
    assert turn.handles.robot_code == "rb"
    assert turn.sender.union_id == "union-1"
    assert turn.received_at == 3.0


def test_group_push_turn() -> None:
    """A group push is reached by openConversationId and has no sender."""
    request = PushRequest("helpdesk", PushTarget("group", "cid-g"), "早报")
    turn = push_turn(request, robot_code="rb", received_at=0.0)
    assert turn.conversation_type is ConversationType.GROUP
    assert turn.conversation_key == "push:group:cid-g"
    assert (turn.handles.union_id, turn.handles.open_conversation_id) == (None, "cid-g")
    assert turn.sender.union_id is None


class Answers:
    """A stand-in for the pipeline's answer: keeps the Turns, returns a fixed result."""

    def __init__(self, result: RelayResult | None) -> None:
        self.result = result
        self.turns: list[Turn] = []

    async def __call__(self, turn: Turn) -> RelayResult | None:
        self.turns.append(turn)
        return self.result


def result(ok: bool = True) -> RelayResult:
    return RelayResult(
        text="答", ok=ok, surface="ai_stepwise", opens=1, updates=0, closes=1, send_once=0, splits=0
    )


def push_door(answers: Answers) -> PushDoor:
    return PushDoor(answer=answers, robot_codes={"helpdesk": "rb"}, clock=lambda: 9.0)


@pytest.mark.anyio
async def test_send_answers_a_push_turn_with_the_assistants_robot() -> None:
    """bridge send runs one push Turn, with the assistant's robot code, through answer."""
    answers = Answers(result())
    assert await push_door(answers).send("helpdesk", "group:cid-g", "早报") == answers.result
    [turn] = answers.turns
    assert (turn.conversation_key, turn.handles.robot_code) == ("push:group:cid-g", "rb")
    assert turn.received_at == 9.0


@pytest.mark.anyio
async def test_send_with_a_bad_target_is_a_config_error_naming_to() -> None:
    """A malformed --to is a ConfigError (exit code 2) that names the option; nothing runs."""
    answers = Answers(result())
    with pytest.raises(ConfigError) as caught:
        await push_door(answers).send("helpdesk", "phone:1", "x")
    assert caught.value.message == f"--to must be {BOTH_FORMS}, got 'phone:1'"
    assert answers.turns == []


@pytest.mark.anyio
async def test_send_for_an_unknown_assistant_is_a_config_error() -> None:
    """An assistant that is not configured is a ConfigError; nothing runs."""
    answers = Answers(result())
    with pytest.raises(ConfigError, match="no assistant named 'other'"):
        await push_door(answers).send("other", "user:u", "x")
    assert answers.turns == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (result(), {"ok": True, "surface": "ai_stepwise", "text": "答", "error": None}),
        (result(ok=False), {"ok": False, "surface": "ai_stepwise", "text": "答", "error": None}),
        (None, {"ok": False, "surface": None, "text": None, "error": None}),
    ],
)
async def test_push_reports_how_it_went(
    outcome: RelayResult | None, expected: dict[str, Any]
) -> None:
    """POST /v1/push answers ok, the surface, the text and the model's error, if any."""
    request = PushRequest("helpdesk", PushTarget("user", "u"), "x")
    assert await push_door(Answers(outcome)).push(request) == expected
