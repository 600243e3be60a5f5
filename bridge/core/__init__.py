"""The pacing core: pure, synchronous, clock-free logic that turns LLM events into calls.

``Pacer`` (``pacer.py``) holds the rules of design.md §3 and answers ``next_action(now)``
with one of the ``actions.py`` values; it consumes the model's ``events.py`` and is set up
by ``options.py``; ``frames.py`` has the text pieces (normalization, markdown-safe frames,
message splits) and ``transcript.py`` the reasoning display modes.
``bridge.delivery.relay`` is the async shell that drives it against real surfaces.

The core imports only the standard library and its own modules: it can be read, tested
and reused without the rest of bridge.
"""

from bridge.core.actions import Action, Call, Close, Done, Open, SendOnce, Split, Update, Wait
from bridge.core.events import End, LLMEvent, ReasoningDelta, TextDelta, Usage
from bridge.core.frames import normalize, safe_frame, split_point, split_text
from bridge.core.options import PacingOptions, ReasoningMode
from bridge.core.pacer import Pacer, PacingError, Phase

__all__ = [
    "Action",
    "Call",
    "Close",
    "Done",
    "End",
    "LLMEvent",
    "Open",
    "Pacer",
    "PacingError",
    "PacingOptions",
    "Phase",
    "ReasoningDelta",
    "ReasoningMode",
    "SendOnce",
    "Split",
    "TextDelta",
    "Update",
    "Usage",
    "Wait",
    "normalize",
    "safe_frame",
    "split_point",
    "split_text",
]
