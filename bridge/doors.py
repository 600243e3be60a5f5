"""What the composition root hands the doors: each assistant's Stream client, and where
stops go.

Every door takes two entry points of the pipeline: ``accept`` for a message and ``stop``
for a stop button's press (``bridge.inbound.card_callback``), which is
``Pipeline.stops.request``: the Stream door of each assistant gets both here
(``stream_client``), the HTTP app gets both in ``Bridge._serve_http``.

A press may reach an instance that does not run the reply it names (DingTalk hands a
Stream callback to any connection of the app). With a shared store the request then
waits in the store's ``StopMailbox`` for the instance that does (``stop_mailbox``);
with a store of one process every reply runs where the doors are, and none is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx2

from bridge.config import AssistantConfig, Config
from bridge.dingtalk.client import DingTalkClient
from bridge.inbound.busy import webhook_notice
from bridge.inbound.stream import StreamClient
from bridge.inbound.stream_door import TOPICS, Accept, StreamDoor
from bridge.state import RedisStore, Store
from bridge.state.stop_mailbox import RedisStopMailbox, StopMailbox
from bridge.stops import Stops

__all__ = ["stop_mailbox", "stream_client"]


def stop_mailbox(store: Store) -> StopMailbox | None:
    """The mailbox for stops between instances sharing ``store``; None for one process."""
    if isinstance(store, RedisStore):
        return RedisStopMailbox(store)
    return None


def stream_client(
    assistant: AssistantConfig,
    *,
    config: Config,
    http: httpx2.AsyncClient,
    client: DingTalkClient,
    accept: Accept,
    stops: Stops,
    clock: Callable[[], float] = time.time,
) -> StreamClient:
    """The Stream connection of ``assistant``: its messages to ``accept``, the presses of
    its cards' stop buttons to ``stops``."""
    door = StreamDoor(
        assistant=assistant.name,
        robot_code=assistant.robot,
        accept=accept,
        reply_hosts=config.dingtalk.reply_hosts,
        busy=webhook_notice(client, config.serve.busy_reply, clock=clock),
        clock=clock,
        display_names=assistant.display_names,
        stop=stops.request,
    )
    return StreamClient(
        http,
        client.open_stream,
        client_id=assistant.client_id,
        handler=door,
        topics=TOPICS,
        timeout=config.dingtalk.timeout,
        max_frame_bytes=config.serve.stream_max_frame_bytes,
    )
