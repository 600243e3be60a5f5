"""How one relayed reply went: ``RelayResult``, what ``bridge.delivery.relay.relay`` returns.

A frozen value the pipeline reads to journal, remember and count the reply; it lives
apart from the relay so that readers of the result need not import the relay's machinery
(``bridge.delivery.relay`` re-exports it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RelayResult"]


@dataclass(frozen=True, slots=True)
class RelayResult:
    """How one reply went.

    ``text`` is the whole reply as finally shown (before any split into continued
    messages); ``ok`` is true when the model finished and the final text was delivered;
    ``surface`` names the surface that showed it (``None`` if none did). The counts are
    calls DingTalk accepted; ``error`` is the source's failure, if any.
    """

    text: str
    ok: bool
    surface: str | None
    opens: int
    updates: int
    closes: int
    send_once: int
    splits: int
    error: str | None = None
