"""Fakes for the relay's tests: surfaces recording their calls, and a scripted model.

``FakeSurface`` keeps every call it gets (kind and text) and fails or waits on request;
``source`` yields deltas at the model's pace, then ends, raises or hangs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import anyio

from bridge.config import RetryConfig
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.delivery.surface import LiveMessage
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.retry import RetryPolicy
from bridge.errors import PlatformPermissionDenied, PlatformRateLimited, PlatformUnavailable

__all__ = ["QUICK_RETRY", "FakeLive", "FakeSurface", "denied", "rate_limited", "source"]


def denied(operation: str) -> PlatformPermissionDenied:
    return PlatformPermissionDenied("scope not granted", operation=operation, status=403)


#: Real retry decisions with short waits: 4 counted attempts, 20 ms per rate limit.
QUICK_RETRY = RetryPolicy(
    RetryConfig(attempts=4, backoff_initial=0.01, backoff_max=0.02, rate_limited_wait=0.02)
)


async def rate_limited(refusals: int | None) -> None:
    """A call DingTalk refuses ``refusals`` times with QpsLimit (None: always), run
    through the real retry policy as the client would."""
    left = refusals

    async def attempt() -> None:
        nonlocal left
        if left is None or left > 0:
            left = None if left is None else left - 1
            raise PlatformRateLimited("QpsLimit", operation="aiInteraction.finish", status=403)

    await QUICK_RETRY.run(Operation.AI_FINISH, attempt)


@dataclass
class FakeSurface:
    """An in-memory surface recording its calls; failures and a gate are opt-in."""

    name: str
    can_stream: bool = True
    can_split: bool = True
    fail_open: bool = False
    fail_update: bool = False
    fail_close: bool = False
    fail_send: bool = False
    fail_send_at: int | None = None  # only this send_once call (1-based) fails
    close_refusals: int | None = 0  # rate-limit answers before the close goes through
    calls: list[tuple[str, str]] = field(default_factory=list)
    updated: anyio.Event = field(default_factory=anyio.Event)
    closing: anyio.Event = field(default_factory=anyio.Event)
    update_gate: anyio.Event | None = None
    in_flight: int = 0
    max_in_flight: int = 0

    async def open(self) -> LiveMessage:
        await self._enter("open", "")
        self._leave()
        if self.fail_open:
            raise denied("aiInteraction.prepare")
        return FakeLive(self)

    async def send_once(self, text: str) -> None:
        await self._enter("send_once", text)
        self._leave()
        if self.fail_send or self.kinds().count("send_once") == self.fail_send_at:
            raise PlatformUnavailable("down", operation="robot.sendBySession", status=503)

    async def _enter(self, kind: str, text: str) -> None:
        self.calls.append((kind, text))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await anyio.lowlevel.checkpoint()

    def _leave(self) -> None:
        self.in_flight -= 1

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


@dataclass
class FakeLive:
    """The live message of a FakeSurface."""

    surface: FakeSurface
    handle: None = None  # not recoverable: the relay never needs it

    async def update(self, text: str) -> None:
        await self.surface._enter("update", text)
        try:
            self.surface.updated.set()
            if self.surface.update_gate is not None:
                await self.surface.update_gate.wait()
            if self.surface.fail_update:
                raise PlatformUnavailable("down", operation="aiInteraction.update", status=503)
        finally:
            self.surface._leave()

    async def close(self, text: str, *, ok: bool) -> None:
        await self.surface._enter("close" if ok else "close_failed", text)
        self.surface.closing.set()
        try:
            if self.surface.close_refusals != 0:
                await rate_limited(self.surface.close_refusals)
        finally:
            self.surface._leave()
        if self.surface.fail_close:
            raise PlatformUnavailable("down", operation="aiInteraction.finish", status=503)


async def source(
    deltas: Sequence[str],
    *,
    gap: float = 0.0,
    error: Exception | None = None,
    hang: bool = False,
) -> AsyncIterator[LLMEvent]:
    """Yield deltas ``gap`` apart (the model's pace), then End, an error or a hang."""
    for delta in deltas:
        yield TextDelta(delta)
        await anyio.sleep(gap)
    if error is not None:
        raise error
    if hang:
        await anyio.Event().wait()
    yield End("stop")
