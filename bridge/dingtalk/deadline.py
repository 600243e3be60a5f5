"""A reply's delivery deadline, carried from the relay to the retry loop of its calls.

A rate-limit answer (403 ``QpsLimit…``, an IP ban, a robot's "sending too fast") means
DingTalk executed nothing, so waiting it out is always safe, even for a send; the only
question is how late a user's answer may still arrive. That is a property of the reply
(``[delivery] deadline`` after it started), not of one call, while the relay also bounds
each call (``close_timeout`` plus its rate-budget share) so that a hung or stuck call
cannot hold the reply up. The two meet here:

* ``DeliveryDeadline.bound(seconds)`` is the relay's cancel scope around one call. It
  expires after ``seconds`` like ``anyio.move_on_after``, and makes the deadline visible
  to the retry loop running inside it through a context variable, so no surface and no
  client method needs a parameter for it.
* ``current()`` is what the retry loop asks: the deadline of the call running now, or
  ``None`` outside a reply's window (start-up recovery, a reply winding up after
  cancellation, the deadline already past). Then rate limits count against
  ``[dingtalk.retry] attempts`` like any other failure.
* ``stretch(until)`` is what the retry loop does before waiting out a rate limit: the
  call's bound moves to ``until`` plus its own length, so the bound times a call that
  hangs, never a wait the deadline allows.

``DeliveryDeadline.expire()`` ends the window at once: when the reply is cancelled
(shutdown), a shielded close must not sit out a rate limit for minutes; its bound shrinks
back to its own length from that moment. All instants are ``anyio.current_time()``, the
clock cancel scopes run on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import anyio

__all__ = ["DeliveryDeadline", "current", "stretch"]


@dataclass(eq=False, slots=True)
class _Lease:
    """One bounded call under a deadline: its cancel scope and its own length."""

    window: DeliveryDeadline
    scope: anyio.CancelScope
    seconds: float


_lease: ContextVar[_Lease | None] = ContextVar("bridge_delivery_deadline", default=None)


class DeliveryDeadline:
    """Until when (``anyio.current_time()``) one reply's calls may wait out rate limits.

    ``at=None`` is a reply without a deadline: its calls are bounded, never stretched.
    """

    def __init__(self, at: float | None) -> None:
        self._at = at
        self._leases: set[_Lease] = set()

    @classmethod
    def after(cls, seconds: float | None) -> DeliveryDeadline:
        """The deadline ``seconds`` from now (``None``: no deadline)."""
        return cls(None if seconds is None else anyio.current_time() + seconds)

    @property
    def at(self) -> float | None:
        """The deadline, or ``None`` when there is none (any more)."""
        return self._at

    @contextmanager
    def bound(self, seconds: float, *, shield: bool = False) -> Iterator[anyio.CancelScope]:
        """A cancel scope giving one call ``seconds``, stretchable up to the deadline.

        Like ``anyio.move_on_after(seconds, shield=shield)``: check ``cancelled_caught``.
        """
        with anyio.move_on_after(seconds, shield=shield) as scope:
            lease = _Lease(self, scope, seconds)
            self._leases.add(lease)
            token = _lease.set(lease)
            try:
                yield scope
            finally:
                _lease.reset(token)
                self._leases.discard(lease)

    def expire(self) -> None:
        """End the window now: no more stretching, and running calls get their own
        length from now at most."""
        self._at = None
        now = anyio.current_time()
        for lease in self._leases:
            lease.scope.deadline = min(lease.scope.deadline, now + lease.seconds)


def current() -> float | None:
    """The delivery deadline of the call running now; ``None`` when it has none or it
    has passed."""
    lease = _lease.get()
    at = lease.window.at if lease is not None else None
    if at is None or at <= anyio.current_time():
        return None
    return at


def stretch(until: float) -> None:
    """Let the running call's bound last until ``until`` (at most its deadline) plus its
    own length: called before waiting out a rate limit. No deadline: nothing changes."""
    lease = _lease.get()
    at = lease.window.at if lease is not None else None
    if lease is None or at is None:
        return
    lease.scope.deadline = max(lease.scope.deadline, min(until, at) + lease.seconds)
