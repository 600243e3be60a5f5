"""A finished text sent once, piece by piece, over an ordered list of surfaces.

A one-shot answer longer than one message goes out as consecutive finished messages
(``bridge.core.frames.split_text``), one call each. When a surface refuses a piece, the
next surface continues with that piece and the ones after it: a user who already sees
pieces 1 and 2 never gets them twice. Each call is bounded like every call of a reply
(the relay passes its bound, which may stretch for rate limits up to the reply's
delivery deadline, and is shielded: a half-delivered answer must still be completed
when the reply is cancelled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import anyio

from bridge.delivery.surface import Surface
from bridge.errors import PlatformError

__all__ = ["Sent", "send_pieces"]


@dataclass(frozen=True, slots=True)
class Sent:
    """How sending pieces went: ``surface`` delivered the last piece (``None`` when some
    piece reached nobody); ``calls`` counts the pieces DingTalk accepted."""

    surface: Surface | None
    calls: int


async def send_pieces(
    pieces: Sequence[str],
    candidates: Sequence[Surface],
    *,
    bound: Callable[[], AbstractContextManager[anyio.CancelScope]],
    on_failure: Callable[[Surface, Exception], None],
) -> Sent:
    """Send ``pieces`` in order, each once, moving on to the next candidate on failure.

    ``bound()`` makes the cancel scope around one call; ``on_failure`` hears of every
    surface that refused a piece or ran out of time. A piece whose call timed out may
    have been shown: it is sent again on the next surface, the one case of a repeat
    (its answer never came back, so nothing says it arrived).
    """
    sent = 0
    for surface in candidates:
        while sent < len(pieces):
            with bound() as scope:
                try:
                    await surface.send_once(pieces[sent])
                except PlatformError as exc:
                    on_failure(surface, exc)
                    break
            if scope.cancelled_caught:
                on_failure(surface, TimeoutError(f"{surface.name}: send timed out"))
                break
            sent += 1
        else:
            return Sent(surface, sent)
    return Sent(None, sent)
