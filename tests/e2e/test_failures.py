"""End to end: whatever fails, every opened message is closed and shows what it can.

The model drops mid-stream, DingTalk answers 403 (rate limit) or 500 during the stream,
a surface is not permitted, the relay is cancelled: in each case the emulator must show
no message left "preparing" or "inputting", and the text a user sees must be the whole
answer or, when the model failed, its partial text followed by the failure notice.

A rate-limit window longer than ``[dingtalk.retry] attempts`` cover is waited out until
the reply's delivery deadline (``[delivery] deadline``); one that outlasts the deadline
ends the reply cleanly, and the monthly quota is never waited for.
"""

from __future__ import annotations

import anyio
import pytest

from bridge.config import PacingConfig
from bridge.delivery.relay import RelayResult, relay
from bridge.delivery.surface import Surface
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import FaultSpec
from bridge.emulator.model.script import ModelFault, ModelScript
from bridge.emulator.state import DEFAULT_APP
from bridge.errors import (
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformUnavailable,
)
from bridge.llm.messages import ChatMessage
from bridge.turn import Turn
from tests.e2e.conftest import (
    FAST_RETRY,
    NOTICE,
    PACING,
    STREAMING,
    SURFACES,
    UPDATING,
    EndToEnd,
    assert_rejoins,
    prose,
    streamed_calls,
)

pytestmark = pytest.mark.anyio

RATE_LIMITED = FaultSpec(
    operation=Operation.AI_REPLY,  # replaced per test
    status=403,
    code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
    message="调用频率超过限制",
)
SERVER_ERROR = FaultSpec(operation=Operation.AI_REPLY, status=500, code="system.error")
PERMISSION_DENIED = FaultSpec(
    operation=Operation.AI_PREPARE,
    status=403,
    code="Forbidden.AccessDenied.AccessTokenPermissionDenied",
    message="scope aiInteraction not granted",
)
ASSISTANT_NOT_FOUND = FaultSpec(
    operation=Operation.AI_PREPARE,
    status=400,
    code="invalid.param",
    message="ai assistant not found",
)


def split_notice(text: str) -> str:
    """The partial answer in front of the failure notice (which must be there)."""
    suffix = f"\n\n{NOTICE}"
    assert text.endswith(suffix), text[-80:]
    return text.removesuffix(suffix)


@pytest.mark.parametrize("surface", SURFACES)
async def test_model_drop_closes_with_partial_text_and_notice(e2e: EndToEnd, surface: str) -> None:
    """A model that drops mid-stream leaves its partial text and the notice, closed."""
    asked = await e2e.ask("tell me a story")
    text = e2e.script(prose(400), fault=ModelFault(kind="drop", after_chunks=30))

    result = await e2e.reply(asked.turn_for(surface), [surface])

    assert not result.ok
    assert result.error is not None
    [emission] = e2e.simulator.emissions()
    assert emission.outcome == "dropped"
    [message] = await e2e.bot_messages()
    # aiInteraction has no failed state: there the notice says it.
    assert message.state == ("failed" if surface == "ai_card" else "finished")
    assert message.text == result.text
    partial = split_notice(message.text)
    assert partial == emission.text.rstrip()
    assert partial
    assert text.startswith(partial)
    assert len(partial) < len(text)
    await e2e.assert_all_closed()


@pytest.mark.parametrize("fault", [RATE_LIMITED, SERVER_ERROR], ids=["403-qps", "500"])
@pytest.mark.parametrize("surface", STREAMING)
async def test_platform_faults_during_the_stream_are_retried(
    e2e: EndToEnd, surface: str, fault: FaultSpec
) -> None:
    """403 QpsLimit and 500 answers on an update are retried; the answer ends whole."""
    asked = await e2e.ask("tell me a story")
    text = e2e.script(prose(160))
    # The second update is refused three times in a row, then goes through.
    spec = fault.model_copy(update={"operation": UPDATING[surface], "after": 1, "count": 3})
    installed = await e2e.control.add_fault(spec)

    result = await e2e.reply(asked.turn_for(surface), [surface])

    assert result.ok
    assert e2e.surface_errors == []
    [fired] = await e2e.control.faults()
    assert (fired.id, fired.fired) == (installed.id, 3)
    statuses = [c.status for c in await e2e.calls(UPDATING[surface])]
    assert statuses[1:4] == [fault.status] * 3
    assert statuses.count(200) == len(statuses) - 3
    [message] = await e2e.bot_messages()
    assert (message.state, message.text) == ("finished", text)
    await e2e.assert_all_closed()


@pytest.mark.parametrize("surface", STREAMING)
async def test_an_update_lost_to_a_persistent_fault_is_repaired(
    e2e: EndToEnd, surface: str
) -> None:
    """An update that fails every retry is dropped; the next call shows the whole text."""
    asked = await e2e.ask("tell me a story")
    text = e2e.script(prose(160))
    attempts = FAST_RETRY.attempts
    spec = SERVER_ERROR.model_copy(
        update={"operation": UPDATING[surface], "after": 1, "count": attempts}
    )
    await e2e.control.add_fault(spec)

    result = await e2e.reply(asked.turn_for(surface), [surface])

    assert result.ok
    [(name, error)] = e2e.surface_errors
    assert name == surface
    assert isinstance(error, PlatformUnavailable)
    calls = await e2e.calls()
    succeeded = [c.operation for c in calls if c.status == 200]
    assert succeeded == streamed_calls(surface, result.updates)
    assert len(calls) - len(succeeded) == attempts
    [message] = await e2e.bot_messages()
    assert (message.state, message.text) == ("finished", text)
    await e2e.assert_all_closed()


@pytest.mark.parametrize("fault", [PERMISSION_DENIED, ASSISTANT_NOT_FOUND], ids=["403", "400"])
async def test_permission_denied_on_prepare_falls_back_to_the_card(
    e2e: EndToEnd, fault: FaultSpec
) -> None:
    """aiInteraction refused at prepare: the answer streams, finished, in an AI card."""
    asked = await e2e.ask("tell me a story")
    text = e2e.script(prose(160))
    await e2e.control.add_fault(fault)

    result = await e2e.reply(asked.bot, ["ai_stepwise", "ai_card"])

    assert result.ok
    assert (result.surface, result.opens, result.closes) == ("ai_card", 1, 1)
    [(name, error)] = e2e.surface_errors
    assert name == "ai_stepwise"
    assert isinstance(error, PlatformPermissionDenied)
    calls = await e2e.calls()
    # A permission error is final: prepare is tried once, then the card takes over.
    assert [(c.operation, c.status) for c in calls[:1]] == [(Operation.AI_PREPARE, fault.status)]
    assert [c.operation for c in calls[1:]] == streamed_calls("ai_card", result.updates)
    [message] = await e2e.bot_messages()
    assert (message.via, message.state, message.text) == (
        Operation.CARD_DELIVER,
        "finished",
        text,
    )
    await e2e.assert_all_closed()


@pytest.mark.parametrize("surface", STREAMING)
async def test_cancelled_relay_still_closes_the_message(e2e: EndToEnd, surface: str) -> None:
    """Cancelling the relay mid-stream closes its message with the partial text."""
    asked = await e2e.ask("tell me a long story")
    text = e2e.script(prose(2000))  # ~10 s: it is cancelled long before the end
    results: list[RelayResult] = []
    scope = anyio.CancelScope()

    async with e2e.control.events() as events, anyio.create_task_group() as tg:

        async def answer() -> None:
            with scope:
                results.append(await e2e.reply(asked.turn_for(surface), [surface]))
            tg.cancel_scope.cancel()  # stop watching: the reply is over either way

        tg.start_soon(answer)
        async for event in events:
            shown = event.message
            if shown is not None and shown.sender_kind == "bot" and shown.state == "inputting":
                scope.cancel()  # the user is watching the answer being typed

    assert scope.cancelled_caught
    assert results == []
    [message] = await e2e.bot_messages()
    assert message.state == ("failed" if surface == "ai_card" else "finished")
    partial = split_notice(message.text)
    assert text.startswith(partial)
    assert len(partial) < len(text)
    # The model's stream was closed too, not left running.
    emission = await e2e.simulator.wait_finished(0)
    assert emission.outcome == "disconnected"
    await e2e.assert_all_closed()


# ------------------------------------------------------------ rate limits and deadlines

#: A one-shot answer sent whole at the end, in 200-character pieces.
ONE_SHOT_PIECES = PACING.model_copy(
    update={"oneshot_window": 30.0, "oneshot_max_chars": 5000, "message_limit_chars": 200}
)


async def reply_within(
    e2e: EndToEnd,
    turn: Turn,
    names: list[str],
    *,
    deadline: float,
    pacing: PacingConfig = PACING,
) -> RelayResult:
    """``e2e.reply`` with the reply's delivery deadline, as the pipeline passes it."""

    def failed(surface: Surface, error: Exception) -> None:
        e2e.surface_errors.append((surface.name, error))

    return await relay(
        e2e.source.stream([ChatMessage.user(turn.text)]),
        e2e.surfaces(turn, names),
        pacing,
        on_surface_error=failed,
        deadline=deadline,
    )


async def ask_for(e2e: EndToEnd, name: str, text: str) -> Turn:
    """A group message whose answer is ``text``, whatever order the model is asked in."""
    e2e.simulator.define(name, ModelScript(text=text))
    return (await e2e.ask(f"[[script={name}]] go")).bot


async def test_a_rate_limit_window_longer_than_the_attempts_loses_no_reply(
    e2e: EndToEnd,
) -> None:
    """30 QpsLimit answers per operation, 4 attempts: four concurrent replies, streamed
    and one-shot, are each delivered whole once the window ends."""
    texts = {
        name: prose(length, seed=name)
        for name, length in [("stepwise", 400), ("card", 400), ("short", 60), ("pieces", 500)]
    }
    turns = {name: await ask_for(e2e, name, text) for name, text in texts.items()}
    window = [Operation.AI_UPDATE, Operation.CARD_STREAMING, Operation.ROBOT_GROUP_SEND]
    for operation in window:
        await e2e.control.add_fault(
            RATE_LIMITED.model_copy(update={"operation": operation, "count": 30})
        )
    plan: dict[str, tuple[list[str], PacingConfig]] = {
        "stepwise": (["ai_stepwise"], PACING),
        "card": (["ai_card"], PACING),
        "short": (["robot_send"], PACING),
        "pieces": (["robot_send"], ONE_SHOT_PIECES),
    }
    results: dict[str, RelayResult] = {}

    async def answer(name: str) -> None:
        names, pacing = plan[name]
        results[name] = await reply_within(e2e, turns[name], names, deadline=60, pacing=pacing)

    async with anyio.create_task_group() as tg:
        for name in plan:
            tg.start_soon(answer, name)

    assert {name: result.ok for name, result in results.items()} == dict.fromkeys(plan, True)
    assert e2e.surface_errors == []
    assert [fault.fired for fault in await e2e.control.faults()] == [30, 30, 30]
    for operation in window:
        assert [c.status for c in await e2e.calls(operation)].count(403) == 30
    messages = await e2e.bot_messages()
    assert all(m.state == "finished" for m in messages)
    shown = {m.text for m in messages}
    assert {texts["stepwise"], texts["card"], texts["short"]} <= shown
    pieces = [
        m.text for m in messages if m.via == Operation.ROBOT_GROUP_SEND and m.text != texts["short"]
    ]
    assert len(pieces) == results["pieces"].send_once >= 3
    assert_rejoins(pieces, texts["pieces"])
    await e2e.assert_all_closed()


async def test_a_platform_limit_below_the_budget_still_delivers_every_stream(
    e2e: EndToEnd,
) -> None:
    """DingTalk allows 3 card updates a second, our budget thinks 20 (another process
    shares the app): three streams get 403s and still end whole, no surface failing."""
    texts = {name: prose(300, seed=name) for name in ("one", "two", "three")}
    turns = {name: await ask_for(e2e, name, text) for name, text in texts.items()}
    await e2e.control.set_qps(3, Operation.CARD_STREAMING)
    results: list[RelayResult] = []

    async def answer(name: str) -> None:
        results.append(await reply_within(e2e, turns[name], ["ai_card"], deadline=60))

    async with anyio.create_task_group() as tg:
        for name in texts:
            tg.start_soon(answer, name)

    assert [r.ok for r in results] == [True] * 3
    assert e2e.surface_errors == []
    assert 403 in [c.status for c in await e2e.calls(Operation.CARD_STREAMING)]
    messages = await e2e.bot_messages()
    assert sorted(m.text for m in messages) == sorted(texts.values())
    assert [m.state for m in messages] == ["finished"] * 3
    await e2e.assert_all_closed()


async def test_a_stream_rate_limited_past_its_deadline_is_closed_and_reported(
    e2e: EndToEnd,
) -> None:
    """Updates refused for good: waited out until the deadline, then the message is
    finished anyway (finish is another API) and the reply reported undelivered."""
    turn = await ask_for(e2e, "story", prose(400))
    await e2e.control.add_fault(RATE_LIMITED.model_copy(update={"operation": Operation.AI_UPDATE}))

    result = await reply_within(e2e, turn, ["ai_stepwise"], deadline=1.0)

    assert (result.ok, result.surface, result.updates, result.closes) == (
        False,
        "ai_stepwise",
        0,
        0,
    )
    assert {(name, type(error)) for name, error in e2e.surface_errors} == {
        ("ai_stepwise", PlatformRateLimited)
    }
    refused = [c.status for c in await e2e.calls(Operation.AI_UPDATE)]
    assert set(refused) == {403}
    assert len(refused) > FAST_RETRY.attempts  # the window was waited, not counted
    assert [c.status for c in await e2e.calls(Operation.AI_FINISH)] == [200]
    [message] = await e2e.bot_messages()
    assert message.state == "finished"
    await e2e.assert_all_closed()


async def test_a_one_shot_rate_limited_past_its_deadline_is_reported_undelivered(
    e2e: EndToEnd,
) -> None:
    """A send refused for good is retried until the deadline, then reported, not lost
    silently: no message, the reply not ok."""
    turn = await ask_for(e2e, "short", prose(60))
    await e2e.control.add_fault(
        RATE_LIMITED.model_copy(update={"operation": Operation.ROBOT_GROUP_SEND})
    )

    result = await reply_within(e2e, turn, ["robot_send"], deadline=1.0)

    assert (result.ok, result.surface, result.send_once) == (False, None, 0)
    [(name, error)] = e2e.surface_errors
    assert (name, type(error)) == ("robot_send", PlatformRateLimited)
    refused = [c.status for c in await e2e.calls(Operation.ROBOT_GROUP_SEND)]
    assert set(refused) == {403}
    assert len(refused) > FAST_RETRY.attempts
    assert await e2e.bot_messages() == []


async def test_the_monthly_quota_is_not_waited_for(e2e: EndToEnd) -> None:
    """ApiCountLimitForOrg within a long deadline: each surface tries once, no waiting."""
    turn = await ask_for(e2e, "story", prose(400))
    await e2e.control.set_quota(DEFAULT_APP, 0)

    result = await reply_within(e2e, turn, ["ai_stepwise", "robot_send"], deadline=60)

    assert not result.ok
    assert [(c.operation, c.status, c.error_code) for c in await e2e.calls()] == [
        (Operation.AI_PREPARE, 403, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
        (Operation.AI_SEND, 403, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
        (Operation.ROBOT_GROUP_SEND, 403, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
    ]
    assert {type(error) for _, error in e2e.surface_errors} == {PlatformQuotaExceeded}
    await e2e.assert_all_closed()
