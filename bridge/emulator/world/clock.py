"""The emulator's sense of time: real wall-clock time plus an offset tests can advance.

Everything with a lifetime in the emulated world (access tokens, session webhooks,
Stream tickets) is judged by ``EmulatorClock.now()``, so a test can expire a token by
advancing the clock instead of waiting two hours. Rate-limit windows deliberately do not
use this clock (they use real monotonic time), and every recorded change also keeps the
real ``time.time()`` so transcripts show what a user would actually have seen.
"""

from __future__ import annotations

import time


class EmulatorClock:
    """Epoch seconds as the emulated platform sees them."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset

    @property
    def offset(self) -> float:
        """Seconds the emulated clock runs ahead of real time."""
        return self._offset

    def now(self) -> float:
        """Emulated epoch seconds."""
        return time.time() + self._offset

    def now_ms(self) -> int:
        """Emulated epoch milliseconds, the unit DingTalk uses in its JSON."""
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> float:
        """Move the emulated clock forward (never backward) and return the new ``now()``."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self._offset += seconds
        return self.now()

    def reset(self) -> None:
        """Back to real time."""
        self._offset = 0.0
