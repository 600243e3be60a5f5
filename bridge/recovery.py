"""Start-up recovery: finish the work that processes which are gone left behind.

A ``bridge serve`` that starts adopts, atomically, every open message and journaled Turn
of no live owner (``bridge.state.lease``: a lapsed lease, or a dead pid on this host),
and then:

1. **closes each open message** through its surface kind's ``recover``, with the text it
   had and the assistant's failure notice, so no chat is left showing "思考中". A message
   of an assistant or surface no longer configured is logged and skipped (it stays in
   the store for a start-up that knows it again); one whose close fails too.
2. **replays each journaled Turn**, in its original order per conversation
   (``Pipeline.replay``): answered as if it had just arrived, or, past the age limit,
   told once that its answer was lost.

Work of a live owner is never touched: a ``bridge send`` running beside a ``bridge
serve`` leaves the service's streams alone, and the other way round. ``bridge send``
runs no recovery at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

from bridge.config import Config
from bridge.core.frames import with_notice
from bridge.delivery.factory import SurfaceFactory
from bridge.errors import ConfigError, PlatformError
from bridge.pipeline import Pipeline
from bridge.state import OpenMessage, Store

__all__ = ["Recovered", "close_left_open", "recover"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a start-up recovered: messages closed and skipped, Turns replayed."""

    closed: int
    skipped: int
    replayed: int


async def recover(
    *,
    store: Store,
    owner: str,
    config: Config,
    factories: Mapping[str, SurfaceFactory],
    pipeline: Pipeline,
    clock: Callable[[], float],
) -> Recovered:
    """Adopt what is ownerless, close its open messages, queue its Turns again."""
    messages = await store.adopt_messages(owner, now=clock())
    closed = 0
    for message in messages:
        closed += await close_left_open(message, store=store, config=config, factories=factories)
    entries = await store.adopt_turns(owner, now=clock())
    replayed = await pipeline.replay(entries)
    return Recovered(closed=closed, skipped=len(messages) - closed, replayed=replayed)


async def close_left_open(
    message: OpenMessage,
    *,
    store: Store,
    config: Config,
    factories: Mapping[str, SurfaceFactory],
) -> bool:
    """Close one message a gone process left open; True when it is closed and forgotten."""
    factory = factories.get(message.assistant)
    if factory is None:
        log.warning(
            "open message %s of unknown assistant %s skipped",
            message.message_id,
            message.assistant,
        )
        return False
    notice = config.assistant(message.assistant).pacing.failure_notice
    try:
        with anyio.fail_after(config.dingtalk.timeout * 2):
            await factory.recover(
                message.surface, message.handle, with_notice(message.text, notice)
            )
    except (ConfigError, ValueError) as exc:
        # The surface is not registered (any more), or cannot recover: nothing here can
        # close it.
        log.warning("open message %s skipped: %s", message.message_id, exc)
        return False
    except (PlatformError, TimeoutError) as exc:
        # Left in the store: a later start-up tries again.
        log.warning("could not close message %s left open: %s", message.message_id, exc)
        return False
    await store.closed(message.message_id)
    log.info("closed message %s left open by a gone process", message.message_id)
    return True
