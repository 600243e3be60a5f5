"""Tests for bridge.state.stop_mailbox on a real redis-server: post, take, expire."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bridge.state.redis import RedisStore
from bridge.state.stop_mailbox import RedisStopMailbox, StopRequest, request_from_json

pytestmark = pytest.mark.anyio

REQUEST = StopRequest("card:bridge-1", frozenset({"alice"}), "stop button")


async def test_a_request_posted_by_one_instance_is_taken_once_by_another(redis_url: str) -> None:
    """Posted under P stop:<target>; the instance with that target takes it, once."""
    async with RedisStore(redis_url, prefix="t:") as one, RedisStore(redis_url, prefix="t:") as two:
        await RedisStopMailbox(one).post(REQUEST)
        mailbox = RedisStopMailbox(two)
        assert await mailbox.take(["card:other", "lane:dev/cid"]) == []
        assert await mailbox.take(["card:bridge-1", "lane:dev/cid"]) == [REQUEST]
        assert await mailbox.take(["card:bridge-1"]) == []


async def test_a_request_expires_after_its_ttl(redis_url: str) -> None:
    """Nobody took it: the key carries its expiry (a reply that ended never looks)."""
    async with RedisStore(redis_url, prefix="t:") as store:
        await RedisStopMailbox(store, ttl=30).post(REQUEST)
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        assert 0 < await client.ttl("t:stop:card:bridge-1") <= 30
    finally:
        await client.aclose()


def test_requests_round_trip_and_junk_is_none() -> None:
    """to_json / request_from_json agree; anything else reads as None."""
    lane = StopRequest("lane:dev/cid", frozenset({"a", "u-a"}), "stop word", until="t1")
    assert request_from_json(lane.to_json()) == lane
    assert request_from_json("{}") is None
    assert request_from_json("not json") is None
