"""The pacing core's options for one reply: the ``[pacing]`` section, fitted to its surfaces.

``pacing_options`` translates the validated config (``[pacing]``, and the marks of
``[notices]``) into ``bridge.core``'s own ``PacingOptions`` (the core imports no
config); ``splittable`` drops message splits when
none of the reply's candidate surfaces could carry a continued message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bridge.config import PacingConfig
from bridge.config_chat import NoticesConfig
from bridge.core.options import PacingOptions
from bridge.delivery.surface import Surface

__all__ = ["NO_SPLIT", "pacing_options", "splittable"]

NO_SPLIT = 10**9  # a message limit no answer reaches


def pacing_options(config: PacingConfig, notices: NoticesConfig | None = None) -> PacingOptions:
    """The pacing core's options from ``[pacing]`` and, when given, ``[notices]``."""
    marks = notices or NoticesConfig()
    return PacingOptions(
        oneshot_window=config.oneshot_window,
        oneshot_max_chars=config.oneshot_max_chars,
        oneshot_pressure=config.oneshot_pressure,
        min_interval=config.min_interval,
        min_growth=config.min_growth,
        max_idle=config.max_idle,
        max_updates_per_reply=config.max_updates_per_reply,
        message_limit_chars=config.message_limit_chars,
        cursor=config.cursor,
        reasoning=config.reasoning,
        failure_notice=config.failure_notice,
        placeholder=config.placeholder,
        length_notice=marks.cut,
        stopped_notice=marks.stopped,
    )


def splittable(options: PacingOptions, surfaces: Sequence[Surface]) -> PacingOptions:
    """``options``, without splits when no surface could carry a continued message.

    A surface that cannot split (reply mode: one token, one message) cannot show a
    second message; if every candidate is like that, a split would lose the rest of the
    answer, so the whole answer goes into the one message instead.
    """
    if any(surface.can_split for surface in surfaces):
        return options
    return replace(options, message_limit_chars=NO_SPLIT)
