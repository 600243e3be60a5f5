"""Pacing and a scripted answer shared by the relay's tests (test_relay*.py).

``OPTIONS`` paces quickly (``WIDE_WINDOW`` keeps quick replies inside the one-shot
window); ``WORDS`` is a 30-word answer whose normalized text is ``FULL``.
"""

from __future__ import annotations

from bridge.config import PacingConfig
from bridge.core.frames import normalize

__all__ = ["FULL", "NOTICE", "OPTIONS", "WIDE_WINDOW", "WORDS"]

NOTICE = "（回答中断）"
OPTIONS = PacingConfig(
    oneshot_window=0.05,
    min_interval=0.02,
    min_growth=1,
    max_idle=0.1,
    close_timeout=2.0,
    failure_notice=NOTICE,
)
# A window no test machine can overrun, for replies meant to end inside it.
WIDE_WINDOW = OPTIONS.model_copy(update={"oneshot_window": 30.0})
WORDS = [f"word{i} " for i in range(30)]
FULL = normalize("".join(WORDS))
