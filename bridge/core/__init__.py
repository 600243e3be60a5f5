"""The pacing core: pure, synchronous, clock-free logic that turns LLM events into calls.

``Pacer`` (``pacer.py``) holds the rules of design.md §3 and answers ``next_action(now)``
with one of the ``actions.py`` values; ``frames.py`` has the text pieces (normalization,
markdown-safe frames, message splits) and ``transcript.py`` the reasoning display modes.
``bridge.delivery.relay`` is the async shell that drives it against real surfaces.
"""

from bridge.core.actions import Action, Call, Close, Done, Open, SendOnce, Split, Update, Wait
from bridge.core.frames import normalize, safe_frame, split_point, split_text
from bridge.core.pacer import Pacer, PacingError, Phase

__all__ = [
    "Action",
    "Call",
    "Close",
    "Done",
    "Open",
    "Pacer",
    "PacingError",
    "Phase",
    "SendOnce",
    "Split",
    "Update",
    "Wait",
    "normalize",
    "safe_frame",
    "split_point",
    "split_text",
]
