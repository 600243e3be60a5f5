"""What the composition root hands the doors: each assistant's Stream client, where stops
go, and the card callback routes it registers.

Every door takes two entry points of the pipeline: ``accept`` for a message and ``stop``
for a stop button's press (``bridge.inbound.card_callback``), which is
``Pipeline.stops.request``: the Stream door of each assistant gets both here
(``stream_client``), the HTTP app gets both in ``Bridge._serve_http``.

A press may reach an instance that does not run the reply it names (DingTalk hands a
Stream callback to any connection of the app). With a shared store the request then
waits in the store's ``StopMailbox`` for the instance that does (``stop_mailbox``);
with a store of one process every reply runs where the doors are, and none is needed.

Over HTTP, DingTalk posts a press to the URL registered for the card's route key
(``[chat] card_callback_route_key``, ``dingtalk-api.md`` §13.1). With
``card_callback_url`` set, ``register_card_routes`` registers it at start-up (forcing
the key onto that URL). A refusal is logged, not fatal: answers still work, only the
stop button's presses would not arrive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

import httpx2

from bridge.config import AssistantConfig, Config
from bridge.dingtalk.client import DingTalkClient
from bridge.errors import PlatformError
from bridge.inbound.busy import webhook_notice
from bridge.inbound.card_callback import Stop
from bridge.inbound.stream import StreamClient
from bridge.inbound.stream_door import TOPICS, Accept, StreamDoor
from bridge.state import RedisStore, Store
from bridge.state.stop_mailbox import RedisStopMailbox, StopMailbox

__all__ = ["register_card_routes", "stop_mailbox", "stream_client"]

log = logging.getLogger(__name__)


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
    stop: Stop,
    clock: Callable[[], float] = time.time,
) -> StreamClient:
    """The Stream connection of ``assistant``: its messages to ``accept``, the presses of
    its cards' stop buttons to ``stop``."""
    door = StreamDoor(
        assistant=assistant.name,
        robot_code=assistant.robot,
        accept=accept,
        reply_hosts=config.dingtalk.reply_hosts,
        busy=webhook_notice(client, config.serve.busy_reply, clock=clock),
        clock=clock,
        display_names=assistant.display_names,
        stop=stop,
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


async def register_card_routes(
    assistants: Sequence[AssistantConfig], clients: Mapping[str, DingTalkClient]
) -> int:
    """Register each assistant's ``card_callback_url`` for its route key; how many were."""
    registered = 0
    for assistant in assistants:
        chat = assistant.chat
        key, url = chat.card_callback_route_key, chat.card_callback_url
        if key is None or url is None:
            continue
        secret = chat.card_callback_secret
        try:
            in_force = await clients[assistant.name].register_card_callback(
                key, url, api_secret=secret.get_secret_value() if secret else None
            )
        except PlatformError as exc:
            log.error(
                "%s: card callback route %r not registered, stop button presses will not"
                " arrive: %s",
                assistant.name,
                key,
                exc,
            )
            continue
        if in_force is not None and in_force != url:
            log.warning(
                "%s: card callback route %r still goes to %s", assistant.name, key, in_force
            )
            continue
        log.info("%s: card callback route %r registered for %s", assistant.name, key, url)
        registered += 1
    return registered
