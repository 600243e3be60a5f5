"""Past the pipeline's bounds: Stream senders are told through the webhook, HTTP gets 429.

A real bridge (serve's wiring) against the emulator, with room for one waiting message
per conversation and a model that stalls, so the third message of a conversation is
refused as busy; a push, answered with no queue, holds its place until it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bridge.emulator.model.script import ModelFault
from tests.serve.conftest import ACTION_TOKEN, PUSH_TOKEN, Served, streaming_in

BUSY = "（忙，请稍后再问）"
TIGHT = {"max_queued_per_conversation": 1, "busy_reply": BUSY, "busy_retry_after": 7.0}


def stall(served: Served) -> None:
    """The model holds every answer after a few chunks until released."""
    served.model.add_fault(ModelFault(kind="stall", after_chunks=2, seconds=60.0, count=100))


@pytest.mark.anyio
async def test_a_busy_stream_message_gets_the_busy_reply_and_an_ack_200(
    serve: Callable[..., Any],
) -> None:
    """The refused message is answered once with busy_reply through its webhook; ACK 200."""
    async with serve(serve=TIGHT) as served:
        stall(served)
        control = served.control
        first = await control.inbound("alice", "cid-alice", "第一个 [[len=500]]")
        await streaming_in(control, "cid-alice", first.message.created_at)
        acks = []
        for text in ("第二个", "第三个", "第四个"):
            said = await control.inbound("alice", "cid-alice", text)
            assert said.delivery is not None
            assert said.delivery.delivery is not None
            delivery = await control.delivery(said.delivery.delivery.id, "acked")
            acks.append(delivery.ack_code)
        bot = [m for m in await control.transcript("cid-alice") if m.sender_kind == "bot"]
        served.model.release_stalls()
    assert acks[-1] == 200
    assert [m.text for m in bot].count(BUSY) >= 1
    assert served.bridge.pipeline.stats.busy >= 1


@pytest.mark.anyio
async def test_a_busy_http_action_is_429_with_retry_after(serve: Callable[..., Any]) -> None:
    """Over HTTP the door answers 429 with Retry-After from the pipeline's decision."""
    async with serve(serve={**TIGHT, "stream": False}) as served:
        stall(served)
        url = f"{served.bridge.http_url}/dingtalk/dev/action"
        auth = {"Authorization": f"Bearer {ACTION_TOKEN}"}
        statuses = []
        retry_after = None
        for i in range(4):
            params = {"rawInput": f"问题{i}", "unionId": "union-alice", "conversationToken": "t1"}
            params["msgId"] = f"busy-{i}"
            response = await served.http.post(url, json=params, headers=auth)
            statuses.append(response.status_code)
            if response.status_code == 429:
                retry_after = response.headers["retry-after"]
                assert "wait already" in response.json()["error"]
        served.model.release_stalls()
    assert statuses[0] == 200
    assert statuses[-1] == 429
    assert retry_after == "7"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("bounds", "second", "reason"),
    [
        ({"max_queued_per_conversation": 1}, "user:union-alice", "run already"),
        ({"max_queued": 1}, "group:cid-group", "wait already"),
    ],
    ids=["per-conversation", "total"],
)
async def test_a_push_past_the_bounds_is_429_and_runs_nothing(
    serve: Callable[..., Any], bounds: dict[str, Any], second: str, reason: str
) -> None:
    """A push past the bounds is 429 with Retry-After; no model call, no message."""
    settings = {**bounds, "busy_retry_after": 7.0, "stream": False}
    async with serve(serve=settings) as served, anyio.create_task_group() as tg:
        stall(served)
        url = f"{served.bridge.http_url}/v1/push"
        auth = {"Authorization": f"Bearer {PUSH_TOKEN}"}
        statuses: list[int] = []

        async def push(to: str, prompt: str) -> None:
            response = await served.http.post(url, json={"to": to, "prompt": prompt}, headers=auth)
            statuses.append(response.status_code)

        tg.start_soon(push, "user:union-alice", "第一个 [[len=500]]")
        await streaming_in(served.control, "cid-alice", 0.0)
        refused = await served.http.post(url, json={"to": second, "prompt": "第二个"}, headers=auth)
        requests = served.model.requests
        bot = [
            m
            for cid in ("cid-alice", "cid-group")
            for m in await served.control.transcript(cid)
            if m.sender_kind == "bot"
        ]
        served.model.release_stalls()
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "7"
    assert reason in refused.json()["error"]
    assert requests == 1
    assert len(bot) == 1
    assert statuses == [200]
    assert served.bridge.pipeline.stats.busy == 1
