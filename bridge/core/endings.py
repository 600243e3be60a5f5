"""How one reply ended, as the pacing core, the relay and the history see it.

``Ending`` is decided by the pacing core (``bridge.core.pacer``) from what happened to
the model's stream, kept in an ``EndState``; each ending but ``COMPLETE`` closes the
message with a mark after the text (``PacingOptions``: ``length_notice``,
``stopped_notice``, and the failure's notice):

- ``COMPLETE``: the model finished on its own (any finish reason but ``length``);
- ``CUT``: the model stopped at its token limit (``finish_reason: "length"``): the
  text is shown finished, with a mark saying it was cut;
- ``STOPPED``: the user stopped it (a stop button, a stop word, or a newer message
  under the ``interrupt`` policy): the text so far, finished, with a stop mark;
- ``FAILED``: the model failed or the reply was cancelled: the text so far with the
  failure's notice (a card shows its failed state).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.core.options import PacingOptions

__all__ = ["EndState", "Ending"]


class Ending(StrEnum):
    """How a reply ended (see the module docstring)."""

    COMPLETE = "complete"
    CUT = "cut"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(slots=True)
class EndState:
    """What ended the model's part of one reply: the first of end, failure or stop wins."""

    finished: bool = False
    cut: bool = False
    stopped: bool = False
    failure: str | None = None
    failure_notice: str | None = None

    @property
    def over(self) -> bool:
        """The model's part is over: it finished, failed, or the user stopped the reply."""
        return self.finished or self.failure is not None or self.stopped

    @property
    def ending(self) -> Ending:
        """How the reply ends (or would end now)."""
        if self.stopped:
            return Ending.STOPPED
        if self.failure is not None:
            return Ending.FAILED
        return Ending.CUT if self.cut else Ending.COMPLETE

    def mark(self, options: PacingOptions) -> str | None:
        """The notice after the text; None for a complete answer."""
        match self.ending:
            case Ending.STOPPED:
                return options.stopped_notice
            case Ending.FAILED:
                return self.failure_notice or options.failure_notice
            case Ending.CUT:
                return options.length_notice
        return None
