"""`/metrics` of `bridge serve` moves exactly as the replies did, against the emulator.

Counts, never durations: the DingTalk calls the bridge counts, by operation and status,
are the emulator's own call log; replies, model requests, first visible text and open
messages are counted once per reply. Scrapes that race the bridge's own bookkeeping
(a call's answer is in the emulator's log a moment before the bridge has read it) poll
until the figure is reached, with a generous timeout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import FaultSpec
from bridge.emulator.model.script import ModelFault
from tests.observe.scrape import Scrape
from tests.serve.conftest import Served, answer_in, streaming_in

pytestmark = pytest.mark.anyio

LONG = "[[len=500]]"  # long enough to stream rather than go out as one reply
CONVERSATIONS = ("cid-alice", "cid-group", "cid-wand-alice")
SETUP = {Operation.GATEWAY_OPEN.value}  # the connection's, not a reply's


async def scrape(served: Served) -> Scrape:
    """GET /metrics from the bridge's HTTP doors (no token needed)."""
    response = await served.http.get(f"{served.bridge.http_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape.parse(response.text)


async def until(served: Served, check: Callable[[Scrape], bool], what: str) -> Scrape:
    """Scrape until ``check`` holds (the bridge may still be reading a call's answer)."""
    with anyio.fail_after(20):
        while True:
            shown = await scrape(served)
            if check(shown):
                return shown
            await anyio.sleep(0.02)
    raise AssertionError(what)  # pragma: no cover - fail_after raises first


async def emulator_calls(served: Served) -> Counter[tuple[str, str]]:
    """The emulator's call log as (operation, HTTP status) counts."""
    return Counter((c.operation.value, str(c.status)) for c in await served.control.calls())


def bridge_calls(shown: Scrape) -> Counter[tuple[str, str]]:
    """The bridge's bridge_dingtalk_calls_total as (operation, status) counts."""
    counted: Counter[tuple[str, str]] = Counter()
    for name, labels, value in shown.samples:
        if name == "bridge_dingtalk_calls_total" and value:
            counted[(labels["operation"], labels["status"])] += int(value)
    return counted


async def settled(served: Served, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds."""
    with anyio.fail_after(20):
        while True:
            if await check():
                return
            await anyio.sleep(0.02)


async def test_metrics_follow_streamed_replies_and_match_the_call_log(
    serve: Callable[..., Any],
) -> None:
    """Three streamed replies: every counter moves by what they did; calls equal the log."""
    async with serve() as served:
        before = await scrape(served)
        assert before.total("bridge_ready") == 1
        assert before.total("bridge_replies_total") == 0
        # Each answer stalls after a few chunks until the test has seen all three stream.
        served.model.add_fault(ModelFault(kind="stall", after_chunks=4, seconds=60.0, count=3))
        said = [
            await served.control.inbound("alice", conversation, f"问题{n} {LONG}")
            for n, conversation in enumerate(CONVERSATIONS)
        ]
        for message, conversation in zip(said, CONVERSATIONS, strict=True):
            await streaming_in(served.control, conversation, message.message.created_at)
        during = await until(
            served,
            lambda s: s.total("bridge_reply_first_visible_seconds_count") == 3,
            "three replies showed text",
        )
        assert during.total("bridge_open_messages", assistant="dev") == 3
        assert during.total("bridge_replies_running") == 3
        assert during.total("bridge_replies_total") == 0
        assert during.total("bridge_llm_first_token_seconds_count", assistant="dev") == 3

        served.model.release_stalls()
        for message, conversation in zip(said, CONVERSATIONS, strict=True):
            answer = await answer_in(served.control, conversation, message.message.created_at)
            assert answer.state == "finished"
        assert await served.bridge.pipeline.drain(30)
        after = await scrape(served)
        log = await emulator_calls(served)
        text = (await served.http.get(f"{served.bridge.http_url}/metrics")).text

    # DingTalk calls by operation and status are exactly the emulator's call log.
    assert bridge_calls(after) == log
    assert {status for _, status in log} == {"200"}
    for operation in {op for op, _ in log}:
        calls = sum(n for (op, _), n in log.items() if op == operation)
        waits = after.total("bridge_dingtalk_budget_wait_seconds_count", operation=operation)
        assert waits == calls, operation
    # Replies: three delivered; their calls sum to every call but the Stream ticket (the
    # first reply fetched the access token: a reply's call too).
    assert after.by("bridge_replies_total", "outcome") == {"delivered": 3}
    assert after.total("bridge_reply_dingtalk_calls_count") == 3
    reply_calls = sum(n for (op, _), n in log.items() if op not in SETUP)
    assert after.total("bridge_reply_dingtalk_calls_sum") == reply_calls
    assert after.total("bridge_reply_first_visible_seconds_count") == 3
    assert 3 <= after.total("bridge_reply_visible_lag_seconds_count") <= reply_calls
    assert after.total("bridge_open_messages") == 0
    # The model: three requests, tokens in and out, no error.
    assert after.total("bridge_llm_requests_total", assistant="dev") == 3
    assert after.total("bridge_llm_tokens_total", kind="prompt") > 0
    assert after.total("bridge_llm_tokens_total", kind="completion") > 0
    assert after.total("bridge_llm_errors_total") == 0
    # The pipeline and the Stream connection.
    assert after.by("bridge_messages_total", "outcome") == {"accepted": 3}
    queue = ("bridge_replies_running", "bridge_replies_queued", "bridge_turns_journaled")
    assert [after.total(name) for name in queue] == [0, 0, 0]
    assert after.total("bridge_stream_up", assistant="dev") == 1
    assert after.total("bridge_stream_connections_total", assistant="dev") == 1
    assert after.total("bridge_stream_reconnects_total", assistant="dev") == 0
    assert after.total("bridge_dingtalk_token_valid", assistant="dev") == 1
    # No label carries a conversation or a user.
    assert "cid-" not in text
    assert "alice" not in text


async def test_rate_limited_and_retried_calls_are_counted_like_the_log(
    serve: Callable[..., Any],
) -> None:
    """Two QpsLimit answers on the streaming update: 403s counted, retried, the log agrees."""
    async with serve() as served:
        said = await served.control.inbound("alice", "cid-alice", f"你好 {LONG}")
        answer = await answer_in(served.control, "cid-alice", said.message.created_at)
        assert answer.state == "finished"
        assert await served.bridge.pipeline.drain(30)
        first = await emulator_calls(served)
        streamed = {op for op, _ in first if op not in SETUP}
        updates = [op for op in streamed if op.endswith(("update", "streaming"))]
        assert updates, f"no update operation among {streamed}"
        for operation in updates:
            await served.control.add_fault(
                FaultSpec(
                    operation=operation,
                    status=403,
                    code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                    message="调用频率超过限制",
                    count=2,
                )
            )
        said = await served.control.inbound("alice", "cid-alice", f"再来 {LONG}")
        answer = await answer_in(served.control, "cid-alice", said.message.created_at)
        assert answer.state == "finished"
        assert await served.bridge.pipeline.drain(30)

        async def counted() -> bool:
            return bridge_calls(await scrape(served)) == await emulator_calls(served)

        await settled(served, counted)
        after = await scrape(served)
        log = await emulator_calls(served)
    limited = sum(n for (_, status), n in log.items() if status == "403")
    assert limited == 2 * len(updates)
    assert after.total("bridge_dingtalk_calls_total", status="403") == limited
    assert after.total("bridge_dingtalk_errors_total", error="rate_limited") == limited
    assert after.total("bridge_dingtalk_retries_total", error="rate_limited") == limited
    assert after.by("bridge_replies_total", "outcome") == {"delivered": 2}
