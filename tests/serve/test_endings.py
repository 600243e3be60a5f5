"""How answers end, end to end: the placeholder of a slow model, cut answers, failure notices.

A real ``Bridge`` serves against the emulator over loopback; the simulated model is
slowed, scripted or broken through its in-process controls. Tests compare orders of
events and count DingTalk calls, never durations.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bridge.core.frames import normalize
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from bridge.emulator.model.context import ContextLimit
from bridge.emulator.model.script import ModelFault, ModelScript, SpeedUpdate
from tests.serve.conftest import Served, answer_in

PLACEHOLDER = "思考中…"
CUT = "（回答过长，已截断）"
HALF = "这是一个被截断的回答，说到一半"
#: Every DingTalk operation that shows something in a chat (not the token, not the gateway).
SHOWING = ("aiInteraction.", "card.", "robot.", "agent.")


async def reply_calls(control: EmulatorControl) -> list[str]:
    """The operations of the calls that showed something, in order."""
    return [c.operation for c in await control.calls() if c.operation.startswith(SHOWING)]


async def placeholder_shown(control: EmulatorControl, conversation: str) -> MessageView:
    """The bot's message in ``conversation`` once it shows the placeholder."""

    def showing(message: MessageView) -> bool:
        return (
            message.sender_kind == "bot"
            and message.conversation_id == conversation
            and message.text == PLACEHOLDER
        )

    with anyio.fail_after(20):
        async with control.events() as events:
            for message in await control.transcript(conversation):
                if showing(message):
                    return message
            async for event in events:
                if event.message is not None and showing(event.message):
                    return event.message
    raise AssertionError("the event stream ended before the placeholder showed")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: refused when connected to)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.anyio
async def test_a_slow_first_token_shows_the_placeholder_before_the_text(
    serve: Callable[..., Any],
) -> None:
    """With the first token at 3 s, the message opens showing the placeholder while the
    model has sent nothing; the text then replaces it, and the end is the model's text."""
    async with serve() as served:
        served.model.set_speed(SpeedUpdate(ttft=3.0))
        asked = await served.control.inbound("alice", "cid-alice", "慢慢想 [[len=40]]")
        shown = await placeholder_shown(served.control, "cid-alice")
        sent_before = sum(len(e.chunks) for e in served.model.emissions())
        answer = await answer_in(served.control, "cid-alice", asked.message.created_at)
        emission = await served.model.wait_finished(0)
    assert sent_before == 0  # the placeholder showed before the first token
    assert answer.id == shown.id
    assert answer.state == "finished"
    assert answer.text == normalize(emission.text)
    texts = [change.text for change in answer.changes if change.text]
    assert texts[0] == PLACEHOLDER
    assert PLACEHOLDER not in texts[-1]
    assert emission.chunks[0].at > answer.changes[texts.index(PLACEHOLDER)].at


@pytest.mark.anyio
async def test_a_short_fast_answer_is_one_call(serve: Callable[..., Any]) -> None:
    """A short answer within the one-shot window: one DingTalk call, no placeholder."""
    async with serve() as served:
        asked = await served.control.inbound("alice", "cid-alice", "快 [[len=40]]")
        answer = await answer_in(served.control, "cid-alice", asked.message.created_at)
        calls = await reply_calls(served.control)
    assert len(calls) == 1
    assert PLACEHOLDER not in [change.text for change in answer.changes]


@pytest.mark.anyio
async def test_a_length_cut_answer_ends_with_its_mark_and_is_remembered_cut(
    serve: Callable[..., Any],
) -> None:
    """finish_reason "length": the text, then the cut mark; the next prompt's history
    holds the answer with the mark."""
    async with serve() as served:
        served.model.queue(
            ModelScript(text="这是一个被截断的回答，说到一半", finish_reason="length")
        )
        asked = await served.control.inbound("alice", "cid-alice", "写一篇长文")
        answer = await answer_in(served.control, "cid-alice", asked.message.created_at)
        await served.control.inbound("alice", "cid-alice", "继续")
        follow_up = await served.model.wait_finished(1)
    assert answer.state == "finished"
    assert answer.text.startswith(HALF)
    assert answer.text.endswith(CUT)
    remembered = [m.content for m in follow_up.prompt if m.role == "assistant"]
    assert remembered == [answer.text]


def _refused(served: Served) -> None:
    served.model.add_fault(ModelFault(kind="status", status=500, count=None))


def _timed_out(served: Served) -> None:
    served.model.add_fault(ModelFault(kind="stall", after_chunks=4, seconds=60.0, count=None))


def _too_long(served: Served) -> None:
    served.model.set_context(ContextLimit(tokens=5))


def _nothing(served: Served) -> None:
    """The endpoint itself is unreachable (set in the configuration)."""


Setup = Callable[[Served], None]
CAUSES: dict[str, tuple[Setup, dict[str, Any], str]] = {
    # cause: (model setup, [llm] overrides, the notice shown)
    "refused": (_refused, {}, "（模型服务拒绝了请求：HTTP 500，请稍后重试）"),
    "timeout": (_timed_out, {"idle_timeout": 0.5}, "（模型响应超时，请稍后重试）"),
    "prompt_too_long": (_too_long, {}, "（对话内容过长，模型无法处理，请精简问题或开启新话题）"),
    "unreachable": (_nothing, {"base_url": "UNREACHABLE"}, "（暂时无法连接模型服务，请稍后重试）"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("cause", list(CAUSES))
async def test_each_failure_cause_shows_its_own_notice(
    serve: Callable[..., Any], cause: str
) -> None:
    """Refused (with the status), timed out, prompt too long, unreachable: each message
    ends with the [notices] text of its cause, never the generic failure notice."""
    setup, llm, notice = CAUSES[cause]
    if llm.get("base_url") == "UNREACHABLE":
        llm = {"base_url": f"http://127.0.0.1:{closed_port()}/v1"}
    async with serve(llm=llm) as served:
        setup(served)
        asked = await served.control.inbound("alice", "cid-alice", "你好 [[len=400]]")
        answer = await answer_in(served.control, "cid-alice", asked.message.created_at)
        served.model.release_stalls()
    assert answer.text.endswith(notice), answer.text
    assert "回答中断" not in answer.text


@pytest.mark.anyio
async def test_a_configured_notice_replaces_the_default(serve: Callable[..., Any]) -> None:
    """[notices] refused, with {status}, is what the user sees when the model refuses."""
    async with serve(notices={"refused": "（模型忙：{status}）"}) as served:
        served.model.add_fault(ModelFault(kind="status", status=429, count=None))
        asked = await served.control.inbound("alice", "cid-alice", "你好")
        answer = await answer_in(served.control, "cid-alice", asked.message.created_at)
    assert answer.text.endswith("（模型忙：429）")
