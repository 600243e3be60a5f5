"""What the pacing core asks its driver to do next: one frozen value per surface call.

``Pacer.next_action(now)`` returns one of these. ``Open``, ``Update``, ``Split``, ``Close``
and ``SendOnce`` are calls: the driver performs the call and then reports
``Pacer.update_done(now, ok)``; until then the pacer answers ``Wait(None)`` (single flight).
``Wait(until)`` means nothing is due before ``until`` unless an event arrives
(``None``: only an event or the call in flight can change that). ``Done`` ends the reply.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Action", "Call", "Close", "Done", "Open", "SendOnce", "Split", "Update", "Wait"]


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do before ``until`` (or before the next event, when ``None``)."""

    until: float | None


@dataclass(frozen=True, slots=True)
class SendOnce:
    """Deliver the whole reply as one finished message (it came within the window)."""

    text: str


@dataclass(frozen=True, slots=True)
class Open:
    """Open the live message (preparing/inputting state, no text yet)."""


@dataclass(frozen=True, slots=True)
class Update:
    """Show ``text``, the full text of the current message so far."""

    text: str


@dataclass(frozen=True, slots=True)
class Split:
    """Close the current message with ``close_text`` and open a continued one.

    ``part`` is the slice of the reply this message held (its seam-free text: the parts
    of all messages rejoin to the reply), ``continued`` the text the continued message
    starts with (a reopened code fence, or ``""``). Later updates carry only the
    continued message's text.
    """

    close_text: str
    part: str
    continued: str


@dataclass(frozen=True, slots=True)
class Close:
    """Show the final ``text`` and finish the message; ``ok=False`` marks it failed."""

    text: str
    ok: bool


@dataclass(frozen=True, slots=True)
class Done:
    """The reply is finished; nothing more will be asked."""


Call = SendOnce | Open | Update | Split | Close
Action = Wait | Call | Done
