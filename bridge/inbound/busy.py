"""The one-shot "busy, please try again" reply of a Stream door past the pipeline's bounds.

Over HTTP a busy pipeline is a 429 with ``Retry-After`` and DingTalk (or the caller)
decides what to do. Over Stream there is no such answer: whether the gateway redelivers a
bot message after a non-200 or missing ACK is undocumented and disputed
(``dingtalk-api.md`` §9.13, §14). So the Stream door tells the user itself: the
configured ``[serve] busy_reply`` goes once through the message's sessionWebhook (the
robot's for a bot message, the AI assistant's for an action), and the frame is ACKed 200:
the user knows to ask again, and nothing is left to a redelivery that may never come.
Without a usable webhook (or when the post fails) the door ACKs with a non-200 code
instead (``StreamDoor``).

``webhook_notice`` builds that notice for one assistant's ``DingTalkClient``; its post
is bounded by ``timeout`` because the frame's ACK waits for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.wire import At, Text
from bridge.errors import BridgeError
from bridge.turn import ConversationType, Turn

__all__ = ["BusyNotice", "webhook_notice"]

log = logging.getLogger(__name__)

BusyNotice = Callable[[Turn], Awaitable[bool]]
"""Tell the sender of ``turn`` to try again later; True when the text went out."""


def webhook_notice(
    client: DingTalkClient,
    text: str,
    *,
    timeout: float = 2.0,
    clock: Callable[[], float] = time.time,
) -> BusyNotice:
    """A BusyNotice that posts ``text`` through the Turn's sessionWebhook, if usable."""

    async def notify(turn: Turn) -> bool:
        now = clock()
        robot, ai = turn.handles.robot_webhook, turn.handles.ai_webhook
        try:
            with anyio.fail_after(timeout):
                if robot is not None and robot.usable(now):
                    group = turn.conversation_type is ConversationType.GROUP
                    staff = turn.handles.staff_id
                    at = At(user_ids=(staff,)) if group and staff else None
                    await client.robot_webhook(robot.url, Text(text), at=at)
                    return True
                if ai is not None and ai.usable(now):
                    await client.ai_webhook(ai.url, text)
                    return True
        except (BridgeError, TimeoutError) as exc:
            log.warning("busy reply to %s not delivered: %s", turn.conversation_key, exc)
        return False

    return notify
