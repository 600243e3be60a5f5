"""The router: which surfaces can show the answer to this Turn, best first.

Three filters, applied to the configured preference list (``[delivery] prefer``):

1. **What the Turn carries.** Each surface's kind says whether it ``serves`` the Turn
   (``bridge.delivery.registry``; the rules live next to each surface): ``ai_reply``
   needs a conversationToken, the webhooks a sessionWebhook still valid a few seconds
   from now, proactive surfaces the ids of their target. The magic wand has no target
   a proactive send can reach (dingtalk-api.md §7), so only reply mode answers there.
2. **Health.** A surface that answered "permission denied", "not supported" or a 403 to
   its open call is marked down for ``down_for`` seconds (per assistant) and skipped.
3. **Order.** The configured order is kept; the relay tries the candidates in turn.

Pure: the clock is an argument, the health record is a plain object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.delivery import registry
from bridge.turn import Turn


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
    prefer: Sequence[str],
    health: SurfaceHealth,
    *,
    now: float,
) -> list[str]:
    """The usable surfaces for ``turn``, in preference order.

    Every name must be registered (config validation checks it); one that is not is a
    ``ConfigError``, never silently skipped.
    """
    return [
        name
        for name in prefer
        if registry.lookup(name).serves(turn, now)
        and not health.is_down(turn.assistant, name, now=now)
    ]
