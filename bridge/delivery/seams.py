"""What the relay is given, as types: the model's events, the pacing core, a stop.

- ``EventSource``: the model's events, an async iterator or an async context manager
  yielding one (the LLM source's ``stream``); ``entered`` enters either;
- ``PacerLike``: what the relay needs of a pacing core (``bridge.core.pacer.Pacer`` is
  the real one; the benchmark's peer strategies subclass it);
- ``StopSignal``: the user's stop of one reply (``bridge.stops.RunningReply``).

Kept apart from ``bridge.delivery.relay`` (which re-exports them) so that module holds
only the relay's own machinery.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from bridge.core.actions import Action
from bridge.core.endings import Ending
from bridge.core.events import LLMEvent

__all__ = ["EventSource", "PacerLike", "StopSignal", "entered"]

EventSource = AsyncIterator[LLMEvent] | AbstractAsyncContextManager[AsyncIterator[LLMEvent]]


class PacerLike(Protocol):
    """What the relay needs of a pacing core; ``bridge.core.pacer.Pacer`` is the real one."""

    @property
    def final_text(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def failure(self) -> str | None: ...

    @property
    def ending(self) -> Ending: ...

    def feed(self, event: LLMEvent, now: float) -> bool:
        """Take an event; ``True`` when the next decision may have changed."""
        ...

    def fail(self, now: float, reason: str, notice: str | None = None) -> None: ...

    def stop(self, now: float) -> None: ...

    def set_budget_interval(self, seconds: float) -> None: ...

    def held_until(self, now: float) -> float | None:
        """When budget pressure holds the reply unopened, when to look again; else None."""
        ...

    def update_done(self, now: float, ok: bool) -> None: ...

    def next_action(self, now: float) -> Action: ...


class StopSignal(Protocol):
    """The user's stop of one reply (``bridge.stops.RunningReply``): fires at most once."""

    @property
    def reason(self) -> str:
        """Who or what stopped it, for the log."""

    async def wait(self) -> None:
        """Return once the reply is to stop."""


@asynccontextmanager
async def entered(events: EventSource) -> AsyncIterator[AsyncIterator[LLMEvent]]:
    """The iterator of ``events``, entering it first when it is a context manager."""
    if isinstance(events, AbstractAsyncContextManager):
        async with events as stream:
            yield stream
    else:
        yield events
