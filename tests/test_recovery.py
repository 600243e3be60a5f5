"""Start-up recovery: only ownerless work, and what nothing here can close is skipped."""

from __future__ import annotations

import time

import httpx2
import pytest

from bridge.config import Config, MemoryConfig
from bridge.delivery.factory import SurfaceFactory
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.pipeline import Pipeline
from bridge.recovery import Recovered, recover
from bridge.state import Instance, MemoryStore, OpenMessage, Role

pytestmark = pytest.mark.anyio

CONFIG = Config.model_validate(
    {
        "delivery": {"ai_template_id": "tpl.schema"},
        "assistants": [{"name": "a", "client_id": "c", "client_secret": "s"}],
    }
)


async def test_unknown_surfaces_and_assistants_are_skipped_not_fatal(
    http: httpx2.AsyncClient,
) -> None:
    """A message of a surface or assistant no longer configured is logged, kept, not a crash.

    Nothing here could close it; a later start-up with the surface or assistant back can.
    The live owner's message is not even looked at.
    """
    store = MemoryStore()
    await store.register(Instance("live", Role.SEND, 1, "h", 0.0, 9e9), now=1.0, exclusive=False)
    left = [
        OpenMessage("m1", "a", "carrier_pigeon", {"id": "1"}, "半句", 1.0),
        OpenMessage("m2", "gone", "ai_reply", {"token": "ct"}, "", 2.0),
        OpenMessage("m3", "a", "ai_reply", {"token": "ct"}, "", 3.0, owner="live"),
    ]
    for message in left:
        await store.opened(message)
    client = DingTalkClient(
        http, CONFIG.dingtalk, client_id="c", client_secret="s", budget=RateBudget()
    )
    factories = {"a": SurfaceFactory(client, CONFIG.assistant("a"))}
    async with Pipeline({}, store, MemoryConfig(), max_concurrent=1, clock=time.time) as pipeline:
        recovered = await recover(
            store=store,
            owner="me",
            config=CONFIG,
            factories=factories,
            pipeline=pipeline,
            clock=time.time,
        )
    assert recovered == Recovered(closed=0, skipped=2, replayed=0)
    owners = {m.message_id: m.owner for m in await store.open_messages()}
    assert owners == {"m1": "me", "m2": "me", "m3": "live"}
