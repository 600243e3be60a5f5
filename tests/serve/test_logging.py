"""Log lines of a reply in flight carry its ids, through `bridge serve`'s own wiring."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

#: Loggers of other components running in this test process (the emulator, its server).
ELSEWHERE = ("bridge.emulator", "uvicorn")


@pytest.mark.anyio
async def test_every_line_of_a_streamed_reply_names_its_conversation_and_reply(
    serve: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Every record written while a push streams carries the same conversation and reply id."""
    async with serve(serve={"stream": False}) as served:
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        result = await served.bridge.send("dev", "group:cid-group", "讲个故事 [[len=500]]")
        caplog.set_level(logging.WARNING)
    assert result is not None
    assert result.ok
    assert result.updates >= 1, "the reply should have streamed"
    records = [r for r in caplog.records if not r.name.startswith(ELSEWHERE)]
    calls = [r for r in records if r.name == "bridge.dingtalk.client"]
    assert len(calls) >= result.opens + result.updates + result.closes
    [summary] = [r for r in records if r.name == "bridge.answerer" and "reply" in r.getMessage()]
    conversation, reply = summary.conversation, summary.reply
    assert conversation == "push:group:cid-group"
    assert reply
    for record in records:
        assert (record.conversation, record.reply) == (conversation, reply), record.getMessage()
        assert record.assistant == "dev"
    # Once the message opened, lines also name its surface and journaled message id.
    assert summary.surface == result.surface
    assert summary.message_id
