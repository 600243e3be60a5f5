"""The pacing core's own settings: what ``Pacer`` needs to know, and nothing else.

A frozen dataclass of plain values, so the core stands alone (no validation library, no
TOML). The relay maps the validated ``[pacing]`` section of the configuration onto it
(``bridge.delivery.relay.pacing_options``); tests and the benchmark build it directly.
The defaults are the configuration's defaults; the README's "Pacing" table says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PacingOptions", "ReasoningMode"]

ReasoningMode = Literal["hidden", "quoted", "kept"]


@dataclass(frozen=True, slots=True)
class PacingOptions:
    """How one reply's events become surface calls (design.md §3)."""

    oneshot_window: float = 1.0
    oneshot_max_chars: int = 300
    oneshot_pressure: float = 10.0
    min_interval: float = 0.8
    min_growth: int = 8
    max_idle: float = 2.5
    max_updates_per_reply: int = 200
    message_limit_chars: int = 3000
    cursor: str = ""
    reasoning: ReasoningMode = "quoted"
    failure_notice: str = "（回答中断，请稍后重试）"
    # Shown when nothing has arrived by the end of the one-shot window ("" disables).
    placeholder: str = "思考中…"
    # Marks after the text of an answer cut at the token limit, and of a stopped one.
    length_notice: str = "（回答过长，已截断）"
    stopped_notice: str = "（已停止）"
