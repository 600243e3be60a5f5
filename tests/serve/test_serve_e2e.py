"""`bridge serve`'s own wiring end to end: doors, pipeline, surfaces, against the emulator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from bridge.core.frames import normalize
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.model.script import ModelFault
from bridge.emulator.server import RunningEmulator
from tests.serve.conftest import ACTION_TOKEN, PUSH_TOKEN, Served, answer_in, streaming_in

CONVERSATIONS = [("alice", "cid-alice"), ("alice", "cid-group"), ("alice", "cid-wand-alice")]
IDS = ["single", "group", "magic_wand"]
LONG = "[[len=500]]"  # long enough to stream rather than go out as one reply


def model_text(served: Served, user_text: str) -> str:
    """What the simulated model answered to ``user_text`` (the last such request)."""
    emissions = [e for e in served.model.emissions() if user_text in e.user]
    assert emissions, f"the model never saw {user_text!r}"
    return normalize(emissions[-1].text)


async def register_http_doors(served: Served) -> None:
    url = served.bridge.http_url
    await served.control.register_callbacks(
        "dingbridge-dev",
        robot_url=f"{url}/dingtalk/dev/robot",
        action_url=f"{url}/dingtalk/dev/action",
        action_token=ACTION_TOKEN,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("user", "conversation"), CONVERSATIONS, ids=IDS)
async def test_stream_mode_answers_every_conversation_type(
    serve: Callable[..., Any], user: str, conversation: str
) -> None:
    """Through the Stream client, single chat, group and magic wand get a streamed answer."""
    async with serve() as served:
        # The model holds its answer after a few chunks until the test has seen it stream:
        # events, not timing, decide that the reply opened before it ended.
        served.model.add_fault(ModelFault(kind="stall", after_chunks=4, seconds=60.0, count=1))
        said = await served.control.inbound(user, conversation, f"你好 {LONG}")
        assert said.delivery is not None
        assert said.delivery.how == "stream"
        streaming = await streaming_in(served.control, conversation, said.message.created_at)
        served.model.release_stalls()
        answer = await answer_in(served.control, conversation, said.message.created_at)
    assert answer.id == streaming.id
    assert answer.state == "finished"
    assert answer.text == model_text(served, "你好")
    assert answer.text.startswith(streaming.text.rstrip("▍"))


@pytest.mark.anyio
@pytest.mark.parametrize(("user", "conversation"), CONVERSATIONS, ids=IDS)
async def test_http_callbacks_answer_every_conversation_type(
    serve: Callable[..., Any], user: str, conversation: str
) -> None:
    """Through signed HTTP callbacks (and HTTP actions), every conversation type is answered."""
    async with serve(serve={"stream": False}) as served:
        await register_http_doors(served)
        said = await served.control.inbound(user, conversation, f"早上好 {LONG}", deliver="http")
        assert said.delivery is not None
        assert said.delivery.callback is not None
        assert said.delivery.callback.status == 200
        answer = await answer_in(served.control, conversation, said.message.created_at)
    assert answer.state == "finished"
    assert answer.text == model_text(served, "早上好")


@pytest.mark.anyio
async def test_redelivered_message_gets_no_second_answer(serve: Callable[..., Any]) -> None:
    """Same msgId under a new frame id: acknowledged, but answered only once."""
    async with serve() as served:
        said = await served.control.inbound("alice", "cid-group", "只回答一次")
        await answer_in(served.control, "cid-group", said.message.created_at)
        assert said.delivery is not None
        assert said.delivery.delivery is not None
        again = await served.control.redeliver(said.delivery.delivery.id)
        await served.control.acks(message_id=again.message_id, count=1)
        assert await served.bridge.pipeline.drain(10)
        bot = [m for m in await served.control.transcript("cid-group") if m.sender_kind == "bot"]
    assert len(bot) == 1
    assert served.model.requests == 1
    assert served.bridge.pipeline.stats.duplicates == 1


@pytest.mark.anyio
async def test_expired_webhook_falls_back_to_the_next_surface(
    serve: Callable[..., Any],
) -> None:
    """A webhook that expired while the model was thinking: the answer goes by robot send."""
    prefer = {"prefer": ["robot_webhook", "robot_send"]}
    async with serve(delivery=prefer) as served:
        # The model stalls for a second before answering; meanwhile the webhook expires.
        served.model.add_fault(ModelFault(kind="stall", after_chunks=0, seconds=1.0, count=1))
        said = await served.control.inbound("alice", "cid-group", "过期了吗")
        await served.control.advance_clock(3 * 3600)
        answer = await answer_in(served.control, "cid-group", said.message.created_at)
        calls = await served.control.calls()
    assert answer.state == "finished"
    assert answer.via == "robot.groupMessages.send"
    assert answer.text == model_text(served, "过期了吗")
    webhook = [c for c in calls if c.operation == "robot.sendBySession"]
    assert len(webhook) == 1
    assert webhook[0].error_code == "300001"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("variant", "status"),
    [
        ("bad_signature", 401),
        ("stale", 401),
        ("unsigned", 401),
        ("malformed", 400),
        ("oversize", 413),
        ("off_host", 400),
    ],
)
async def test_bad_callbacks_are_rejected_and_nothing_is_called(
    serve: Callable[..., Any], variant: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Forged, stale, malformed, oversize or off-host callbacks: refused, logged, no call."""
    caplog.set_level(logging.WARNING, logger="bridge")
    async with serve(serve={"stream": False}) as served:
        await register_http_doors(served)
        before = len(await served.control.calls())
        said = await served.control.inbound(
            "alice", "cid-group", "hi", deliver="http", variant=variant
        )
        assert said.delivery is not None
        assert said.delivery.callback is not None
        assert said.delivery.callback.status == status
        assert await served.bridge.pipeline.drain(5)
        assert len(await served.control.calls()) == before
    assert served.model.requests == 0
    assert any("refused POST /dingtalk/dev/robot" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raw",
    [
        "not json at all",
        '{"type": "CALLBACK", "headers": {"topic": "/v1.0/im/bot/messages/get"}}',
        '{"specVersion": "1.0", "type": "CALLBACK", "headers": {"messageId": "m-bad",'
        ' "topic": "/v1.0/im/bot/messages/get"}, "data": "{\\"conversationId\\": 5}"}',
    ],
    ids=["not-json", "no-message-id", "bad-data"],
)
async def test_malformed_frames_are_rejected_and_nothing_is_called(
    serve: Callable[..., Any], raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed Stream frame is refused (400 ACK when it has an id), logged, no call."""
    caplog.set_level(logging.WARNING, logger="bridge")
    async with serve() as served:
        before = len(await served.control.calls())
        await served.control.inject(raw, client_id="dingbridge-dev")
        if "m-bad" in raw:
            (ack,) = await served.control.acks(message_id="m-bad", count=1)
            assert ack.code == 400
        stream = served.bridge.streams["dev"]
        # The next good frame proves the bad one was read (frames are handled in order).
        said = await served.control.inbound("alice", "cid-alice", "还在吗")
        await answer_in(served.control, "cid-alice", said.message.created_at)
        calls = await served.control.calls()
    assert stream.stats.malformed == 1
    assert served.model.requests == 1
    answered_ops = {c.operation for c in calls[before:]}
    assert "gateway.connections.open" not in answered_ops  # still the same connection
    assert any("rejected" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("to", "conversation"),
    [("user:union-alice", "cid-alice"), ("group:cid-group", "cid-group")],
    ids=["user", "group"],
)
async def test_push_reaches_a_user_and_a_group(
    serve: Callable[..., Any], to: str, conversation: str
) -> None:
    """POST /v1/push streams the answer with the stepwise surface to a user or a group."""
    async with serve(serve={"stream": False}) as served:
        url = f"{served.bridge.http_url}/v1/push"
        refused = await served.http.post(
            url, json={"to": to, "prompt": "x"}, headers={"Authorization": "Bearer nope"}
        )
        assert refused.status_code == 401
        response = await served.http.post(
            url,
            json={"to": to, "prompt": f"今日简报 {LONG}"},
            headers={"Authorization": f"Bearer {PUSH_TOKEN}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        bot = [m for m in await served.control.transcript(conversation) if m.sender_kind == "bot"]
    assert body["ok"] is True
    assert body["surface"] == "ai_stepwise"
    assert len(bot) == 1
    assert bot[0].state == "finished"
    assert bot[0].text == model_text(served, "今日简报")
    assert served.model.requests == 1


@pytest.mark.anyio
async def test_second_turn_includes_the_first(serve: Callable[..., Any]) -> None:
    """The second prompt of a conversation carries the first exchange."""
    async with serve() as served:
        first = await served.control.inbound("alice", "cid-alice", "我叫小明")
        first_answer = await answer_in(served.control, "cid-alice", first.message.created_at)
        second = await served.control.inbound("alice", "cid-alice", "我叫什么")
        await answer_in(served.control, "cid-alice", second.message.created_at)
    prompt = served.model.emissions()[-1].prompt
    assert [m.role for m in prompt] == ["system", "user", "assistant", "user"]
    assert prompt[1].content == "我叫小明"
    assert prompt[2].content == first_answer.text
    assert prompt[3].content == "我叫什么"


@pytest.mark.anyio
async def test_history_over_budget_is_trimmed_oldest_first(serve: Callable[..., Any]) -> None:
    """With a small token budget, the oldest exchanges leave the prompt first."""
    llm = {"context_tokens": 700, "max_output_tokens": 100}
    async with serve(llm=llm) as served:
        for n in range(4):
            said = await served.control.inbound(
                "alice", "cid-alice", f"第{n}个问题 [[len=240 lang=zh]]"
            )
            await answer_in(served.control, "cid-alice", said.message.created_at)
    prompts = [e.prompt for e in served.model.emissions()]
    users_in_last = [m.content for m in prompts[-1] if m.role == "user"]
    assert users_in_last[-1].startswith("第3个问题")
    assert not any(u.startswith("第0个问题") for u in users_in_last)  # the oldest went first
    assert users_in_last == sorted(users_in_last)  # what is kept stays in order
    assert len(prompts[-1]) < 2 * 4 + 1  # something was trimmed


@pytest.mark.anyio
async def test_several_assistants_in_one_deployment(
    serve: Callable[..., Any], emulator: RunningEmulator, http: httpx2.AsyncClient
) -> None:
    """Two assistants, each with its own app and pacing, answer as themselves."""
    second = {
        "name": "two",
        "client_id": "dingbridge-two",
        "client_secret": "two-secret",
        "pacing": {"cursor": "▍"},
    }
    await EmulatorControl(http, emulator.base_url).register_app(
        "dingbridge-two", "two-secret", name="Second"
    )
    first = {"name": "dev", "client_id": "dingbridge-dev", "client_secret": "dev-secret"}
    async with serve(assistants=[first, second]) as served:
        await served.control.wait_connections(1, client_id="dingbridge-two")
        one = await served.control.inbound("alice", "cid-alice", "找第一个")
        a = await answer_in(served.control, "cid-alice", one.message.created_at)
        two = await served.control.inbound(
            "bob", "cid-group", "找第二个", client_id="dingbridge-two"
        )
        b = await answer_in(served.control, "cid-group", two.message.created_at)
    assert (a.sender_id, b.sender_id) == ("dingbridge-dev", "dingbridge-two")
    assert a.text == model_text(served, "找第一个")
    assert b.text == model_text(served, "找第二个")
    assert served.bridge.config.assistant("two").pacing.cursor == "▍"
