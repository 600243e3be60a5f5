"""Tests of bridge.llm.transport: the model's client, its pool split into shards."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio
import httpx2
import pytest

from bridge.config import LLMConfig
from bridge.core.events import TextDelta
from bridge.emulator.model.script import ModelFault, ModelScript
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client
from bridge.llm.transport import SHARD_CONNECTIONS, ShardedTransport, shards_for
from tests.llm.conftest import ServedModel


@pytest.mark.parametrize(
    ("connections", "shards"),
    [(None, 1), (1, 1), (SHARD_CONNECTIONS, 1), (SHARD_CONNECTIONS + 1, 2), (1020, 8)],
)
def test_no_shard_holds_more_than_its_share(connections: int | None, shards: int) -> None:
    assert shards_for(httpx2.Limits(max_connections=connections)) == shards


def test_at_least_one_shard() -> None:
    with pytest.raises(ValueError, match="shards"):
        ShardedTransport(httpx2.Limits(), 0)


@pytest.mark.anyio
async def test_the_shards_share_the_limits_and_each_serves_streams(model: ServedModel) -> None:
    """Two shards of one connection each: two answers stream at once (one per shard),
    a third finds no free connection; every stream is closed at the end."""
    config = LLMConfig(base_url=model.base_url, model="m", max_retries=0)
    limits = httpx2.Limits(max_connections=2, max_keepalive_connections=2)
    transport = ShardedTransport(limits, 2)
    timeout = httpx2.Timeout(5.0, pool=0.5)
    for text in ("first answer", "second answer", "third answer"):
        model.simulator.queue(ModelScript(text=text))
    model.simulator.add_fault(ModelFault(kind="stall", after_chunks=1, seconds=30))
    model.simulator.add_fault(ModelFault(kind="stall", after_chunks=1, seconds=30))
    async with httpx2.AsyncClient(transport=transport, timeout=timeout) as http:
        source = LLMSource(create_openai_client(config, {}, http), config)
        async with AsyncExitStack() as streams:
            for _ in range(2):
                events = await streams.enter_async_context(source.stream([ChatMessage.user("q")]))
                assert isinstance(await anext(events), TextDelta)
            assert [e.outcome for e in model.simulator.emissions()] == ["streaming"] * 2
            with pytest.raises(httpx2.PoolTimeout), anyio.fail_after(5):
                await http.post(f"{model.base_url}/chat/completions", json={})
    outcomes = [(await model.simulator.wait_finished(i)).outcome for i in range(2)]
    assert outcomes == ["disconnected", "disconnected"]
