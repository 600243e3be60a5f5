"""The router: which surfaces can show the answer to this Turn, best first.

Three filters, applied to the configured preference list (``[delivery] prefer``):

1. **What the Turn carries.** A surface needs its handle: ``ai_reply`` a
   conversationToken, the webhooks a sessionWebhook that is still valid a few seconds
   from now, proactive surfaces the ids of their target. Proactive sends reach every
   conversation type the platform allows: a single chat by unionId (or its
   openConversationId), a group by openConversationId; the magic wand has neither, so
   only reply mode can answer there (dingtalk-api.md §7), and the router never offers a
   proactive surface for it.
2. **Health.** A surface that answered "permission denied", "not supported" or a 403 to
   its open call is marked down for ``down_for`` seconds (per assistant) and skipped.
3. **Order.** The configured order is kept; the relay tries the candidates in turn.

Pure: the clock is an argument, the health record is a plain object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.config import SurfaceName
from bridge.turn import ConversationType, Turn

WEBHOOK_MARGIN = 5.0  # seconds: a webhook about to expire is not worth starting on


@dataclass
class SurfaceHealth:
    """Surfaces marked down, per assistant, until a time."""

    _down_until: dict[tuple[str, str], float] = field(default_factory=dict)

    def mark_down(self, assistant: str, surface: str, *, now: float, down_for: float) -> None:
        self._down_until[(assistant, surface)] = now + down_for

    def is_down(self, assistant: str, surface: str, *, now: float) -> bool:
        until = self._down_until.get((assistant, surface))
        if until is None:
            return False
        if now >= until:
            del self._down_until[(assistant, surface)]
            return False
        return True


def candidates(
    turn: Turn,
    prefer: tuple[SurfaceName, ...],
    health: SurfaceHealth,
    *,
    now: float,
) -> list[SurfaceName]:
    """The usable surfaces for ``turn``, in preference order."""
    return [
        name
        for name in prefer
        if can_serve(turn, name, now=now) and not health.is_down(turn.assistant, name, now=now)
    ]


def can_serve(turn: Turn, surface: SurfaceName, *, now: float) -> bool:
    """True when ``turn`` carries what ``surface`` needs."""
    handles = turn.handles
    kind = turn.conversation_type
    wand = kind is ConversationType.MAGIC_WAND
    match surface:
        case "ai_reply":
            return handles.conversation_token is not None
        case "ai_webhook":
            return handles.ai_webhook is not None and handles.ai_webhook.usable(
                now, margin=WEBHOOK_MARGIN
            )
        case "robot_webhook":
            return handles.robot_webhook is not None and handles.robot_webhook.usable(
                now, margin=WEBHOOK_MARGIN
            )
        case "ai_stepwise":
            if wand:
                return False
            if handles.open_conversation_id:
                return True
            return kind is ConversationType.SINGLE and handles.union_id is not None
        case "ai_card":
            if wand or not handles.robot_code:
                return False
            if kind is ConversationType.GROUP:
                return handles.conversation_id is not None
            return handles.staff_id is not None
        case "robot_send":
            if wand or not handles.robot_code:
                return False
            if kind is ConversationType.GROUP:
                return handles.open_conversation_id is not None
            return handles.staff_id is not None
    return False
