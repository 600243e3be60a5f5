"""End to end: whatever fails, every opened message is closed and shows what it can.

The model drops mid-stream, DingTalk answers 403 (rate limit) or 500 during the stream,
a surface is not permitted, the relay is cancelled: in each case the emulator must show
no message left "preparing" or "inputting", and the text a user sees must be the whole
answer or, when the model failed, its partial text followed by the failure notice.
"""

from __future__ import annotations

import anyio
import pytest

from bridge.delivery.relay import RelayResult
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import FaultSpec
from bridge.emulator.model.script import ModelFault
from bridge.errors import PlatformPermissionDenied, PlatformUnavailable
from tests.e2e.conftest import (
    FAST_RETRY,
    NOTICE,
    STREAMING,
    SURFACES,
    UPDATING,
    EndToEnd,
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
