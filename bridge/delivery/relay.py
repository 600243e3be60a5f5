"""The relay: joins one reply's LLM event stream, the pacing core and a surface.

``relay(events, surfaces, options)`` is the async shell around ``bridge.core.Pacer``: one
task consumes the model's events and feeds the pacer, the other asks the pacer what to
do and does it on a surface, one call at a time (single flight: while a call runs the
pacer answers ``Wait``, and the deltas that arrive meanwhile merge into the next
full-text update).

Surfaces come from the router as an ordered candidate list. The relay streams on the
first that can stream and opens; a ``PlatformError`` from ``open`` moves on to the next
(reported through ``on_surface_error``), and when none can stream the reply is sent once,
finished, on the first surface that takes it (in pieces when long: a surface failing
midway is continued by the next, never repeated; ``bridge.delivery.pieces``). A failed
update is dropped (the next one carries the full text and repairs it). Every close is
shielded and bounded on every path: normal end, source error (partial text + notice,
``ok=False``), cancellation (closed, then the cancellation goes on). If the close itself
fails, the final text is sent once more through the next surface.

Every call is bounded by ``close_timeout`` plus the rate budget's current fair share per
message: when a thousand messages share 20 calls a second, a close may have to wait its
turn for a slot, and a fixed few seconds would abandon it. A rate-limit answer is
different: DingTalk executed nothing, so the call waits it out until the reply's
delivery ``deadline`` (``[delivery] deadline`` after the reply started), stretching its
bound for the wait (``bridge.dingtalk.deadline``). Once the reply is cancelled (a
shutdown) the deadline ends: the closes that follow get their plain bound, no more.

When the budget is the bottleneck the reply is not streamed at all: the fair share
``budget_interval`` gives, read before every decision, is also the budget's pressure,
and while it exceeds ``[pacing] oneshot_pressure`` (and the time the answer has run)
the pacer keeps the reply unopened and asks for one ``SendOnce`` at the end (rule 9 of
``bridge.core.pacer``). Every call of the reply runs inside ``reply_started``, so among
the urgent calls waiting in the budget (closes and one-shots) the oldest reply goes
first (``bridge.dingtalk.budget``): none starves behind younger ones. A reply held so
wakes nobody with its deltas (``Pacer.feed``) and reads its stream in batches
(``HELD_READ_PAUSE``): a thousand streams read chunk by chunk starve the ready sends.

**Endings.** A source error is typed (``failure_of``: unreachable, timeout, refused,
prompt too long, other) and the message closes with that cause's notice
(``[notices]``, ``notice_for``). ``stop`` is the user's stop (a button, a stop word, a
newer message): once it fires, the model's stream is closed at once (the source's
context is entered by the task that reads it, so cancelling that task exits it and
closes the HTTP response) and the message closes finished with the stop mark as soon
as the call in flight returns. The pacer is told when the reply started, so a model
slow to say anything gets the placeholder (rule 10 of ``bridge.core.pacer``).

``pacer`` lets a caller supply the pacing core (anything shaped like ``PacerLike``); by
default each reply gets a fresh ``Pacer(options)``. The benchmark uses it to run peer
pacing strategies through this same relay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import anyio

from bridge.config import PacingConfig
from bridge.config_chat import NoticesConfig
from bridge.core.actions import Call, Close, Done, Open, SendOnce, Split, Update, Wait
from bridge.core.endings import Ending
from bridge.core.events import End
from bridge.core.frames import split_text
from bridge.core.pacer import Pacer
from bridge.delivery.options import pacing_options, splittable
from bridge.delivery.outcome import Failure, RelayResult, failure_of, notice_for
from bridge.delivery.pieces import send_pieces
from bridge.delivery.seams import EventSource, PacerLike, StopSignal, entered
from bridge.delivery.surface import LiveMessage, Surface
from bridge.dingtalk.budget import reply_started
from bridge.dingtalk.deadline import DeliveryDeadline
from bridge.errors import LLMError, PlatformError
from bridge.llm.reads import paced_reads
from bridge.logcontext import note_surface

__all__ = ["EventSource", "PacerLike", "RelayResult", "StopSignal", "pacing_options", "relay"]

log = logging.getLogger(__name__)

#: Seconds between reads of the model's stream while budget pressure holds the reply:
#: its end is seen this late at most, against a budget wait ≥ ``oneshot_pressure``.
HELD_READ_PAUSE = 0.5


async def relay(
    events: EventSource,
    surfaces: Sequence[Surface],
    options: PacingConfig,
    *,
    clock: Callable[[], float] = anyio.current_time,
    budget_interval: Callable[[], float] = lambda: 0.0,
    on_surface_error: Callable[[Surface, Exception], None] = lambda surface, error: None,
    pacer: PacerLike | None = None,
    deadline: float | None = None,
    notices: NoticesConfig | None = None,
    stop: StopSignal | None = None,
) -> RelayResult:
    """Show one streamed reply on the first usable surface; see the module docstring.

    ``events`` is an async iterator of ``LLMEvent`` or an async context manager yielding
    one (entered and exited here). ``clock`` must advance like ``anyio.current_time``
    (waits are anyio timeouts). ``budget_interval`` is read before every decision: the
    shared rate budget's current fair share per message. A source error that is not an
    ``LLMError`` is re-raised after the message is closed; cancellation too. ``pacer``
    replaces the default ``Pacer(options)``; it must be fresh (one pacer per reply).
    ``deadline`` is the seconds from now until which the reply's calls may wait out rate
    limits (``[delivery] deadline``); ``None`` leaves them to ``[dingtalk.retry]
    attempts`` within each call's bound. ``notices`` gives each ending its mark
    (``[notices]``; None: ``[pacing] failure_notice`` for every failure). ``stop`` stops
    the reply when it fires.
    """
    window = DeliveryDeadline.after(deadline)
    # The reply's closes and one-shots queue in the rate budget by this start, oldest first.
    with reply_started(clock):
        run = _Relay(
            surfaces, options, clock, budget_interval, on_surface_error, pacer, window, notices
        )
        return await run.run(events, stop)


class _Relay:
    """The state of one relay run: the pacer, the live message and the counts."""

    def __init__(
        self,
        surfaces: Sequence[Surface],
        options: PacingConfig,
        clock: Callable[[], float],
        budget_interval: Callable[[], float],
        on_surface_error: Callable[[Surface, Exception], None],
        pacer: PacerLike | None = None,
        deadline: DeliveryDeadline | None = None,
        notices: NoticesConfig | None = None,
    ) -> None:
        self._surfaces = surfaces
        self._deadline = deadline or DeliveryDeadline(None)
        self._close_timeout = options.close_timeout
        # One message limit for the pacer's splits and for sending in pieces.
        self._options = core = splittable(pacing_options(options, notices), surfaces)
        self._clock = clock
        self._budget_interval = budget_interval
        self._on_surface_error = on_surface_error
        self._pacer: PacerLike = pacer if pacer is not None else Pacer(core, started_at=clock())
        self._notices = notices
        self._failure: Failure | None = None
        self._reading = anyio.CancelScope()  # the task reading the model's stream
        self._wake = anyio.Event()
        self._live: LiveMessage | None = None
        self._index = 0  # the surface streaming (or last tried)
        self._send_from = 0  # finished messages start here: past a surface that failed one
        self._used: Surface | None = None
        self._in_flight = False
        self._delivered = True
        self._source_error: Exception | None = None
        self._opens = self._updates = self._closes = self._sends = self._splits = 0

    async def run(self, events: EventSource, stop: StopSignal | None = None) -> RelayResult:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._consume, events)
                tg.start_soon(self._end_deadline_on_cancel)
                if stop is not None:
                    tg.start_soon(self._stop_on, stop)
                await self._drive()
                tg.cancel_scope.cancel()
        except BaseException:
            # Cancellation or a bug: whatever was opened still gets its close.
            self._deadline.expire()
            with anyio.move_on_after(self._call_bound(), shield=True):
                await self._wind_up()
            raise
        if self._source_error is not None and not isinstance(self._source_error, LLMError):
            raise self._source_error
        return self._result()

    async def _consume(self, events: EventSource) -> None:
        try:
            # Entered here, so that cancelling ``_reading`` (a stop) closes the stream.
            with self._reading, paced_reads(self._read_pause):
                async with entered(events) as stream:
                    async for event in stream:
                        # Woken only when the decision may change (rule 9 holds deltas).
                        self._pacer.set_budget_interval(self._budget_interval())
                        if self._pacer.feed(event, self._clock()):
                            self._wake.set()
                        if isinstance(event, End):
                            return
                    self._pacer.feed(End(None), self._clock())
        except Exception as exc:  # noqa: BLE001 - re-raised by run() unless an LLMError
            self._source_error = exc
            self._failure = failure = failure_of(exc)
            log.warning("model stream failed (%s): %s", failure.cause, exc)
            notice = notice_for(failure, self._notices)
            self._pacer.fail(self._clock(), failure.message, notice)
        finally:
            self._wake.set()

    def _read_pause(self) -> float:
        """Before each read of the model's stream: a reply held for one send (rule 9)
        shows nothing until its end, so its stream is read in batches."""
        return HELD_READ_PAUSE if self._pacer.held_until(self._clock()) is not None else 0.0

    async def _stop_on(self, stop: StopSignal) -> None:
        """The user's stop: end the pacer's stream as stopped, close the model's at once."""
        await stop.wait()
        self._pacer.stop(self._clock())
        if self._pacer.ending is Ending.STOPPED:
            log.info("reply stopped (%s): the model's stream is closed", stop.reason)
            self._reading.cancel()
        self._wake.set()

    async def _end_deadline_on_cancel(self) -> None:
        """Lives as long as the reply: cancelled from outside (a shutdown), it ends the
        deadline at once, even while a shielded close is waiting out a rate limit."""
        try:
            await anyio.sleep_forever()
        finally:
            self._deadline.expire()

    async def _drive(self) -> None:
        while True:
            self._pacer.set_budget_interval(self._budget_interval())
            action = self._pacer.next_action(self._clock())
            if isinstance(action, Done):
                return
            if isinstance(action, Wait):
                await self._sleep(action.until)
                continue
            await self._call(action)

    async def _sleep(self, until: float | None) -> None:
        wake = self._wake
        delay = None if until is None else max(0.0, until - self._clock())
        with anyio.move_on_after(delay):
            await wake.wait()
        # Replaced before the next decision, which reads the pacer synchronously: an
        # event fed after this point is seen by that decision, none is lost.
        if wake.is_set():
            self._wake = anyio.Event()

    async def _call(self, call: Call) -> None:
        self._in_flight = True
        ok = await self._perform(call)
        self._in_flight = False
        self._pacer.update_done(self._clock(), ok)

    async def _wind_up(self) -> None:
        """Finish the reply after cancellation or a bug: close what is open, bounded."""
        now = self._clock()
        if self._in_flight:
            self._in_flight = False
            self._pacer.update_done(now, False)
        self._pacer.fail(now, "cancelled")
        while True:
            action = self._pacer.next_action(self._clock())
            if isinstance(action, Done | Wait):
                return
            await self._call(action)

    async def _perform(self, call: Call) -> bool:
        match call:
            case Open():
                await self._open()
                return True
            case Update(text=text):
                return await self._update(text)
            case Split(close_text=text):
                streaming = self._live is not None
                await self._finish_message(text, ok=True)
                self._splits += 1
                if streaming:
                    await self._open()
                return True
            case Close(text=text, ok=ok):
                await self._finish_message(text, ok=ok)
                return True
            case SendOnce(text=text):
                self._delivered = await self._send_once(text, self._surfaces[self._send_from :])
                return self._delivered

    async def _open(self) -> None:
        """Open on the current surface or the next that can stream; none: send once."""
        for index in range(self._index, len(self._surfaces)):
            surface = self._surfaces[index]
            if not surface.can_stream:
                continue
            # Shielded: once DingTalk may have created the message we must learn its
            # handle, or nothing could ever close it.
            with self._bounded(shield=True) as scope:
                try:
                    live = await surface.open()
                except PlatformError as exc:
                    self._surface_failed(surface, exc)
                    continue
            if scope.cancelled_caught:
                self._surface_failed(surface, TimeoutError(f"{surface.name}: open timed out"))
                continue
            self._live, self._index, self._used = live, index, surface
            note_surface(surface.name)
            self._opens += 1
            return
        self._live = None
        log.info("no surface could open a live message; the reply will be sent once")

    async def _update(self, text: str) -> bool:
        live = self._live
        if live is None:
            return True  # nothing open: the text goes out whole at the close
        surface = self._surfaces[self._index]
        # Not shielded: an update may be abandoned, the next one (or the close) repairs it.
        # Queueing for the budget is not a failure of the surface: same bound as a close.
        with self._bounded(shield=False) as scope:
            try:
                await live.update(text)
            except PlatformError as exc:
                self._surface_failed(surface, exc)
                return False
        if scope.cancelled_caught:
            self._surface_failed(surface, TimeoutError(f"{surface.name}: update timed out"))
            return False
        self._updates += 1
        return True

    async def _finish_message(self, text: str, *, ok: bool) -> None:
        """Close the live message (shielded, bounded), or send ``text`` when none is open."""
        live, self._live = self._live, None
        if live is None:
            sent = await self._send_once(text, self._surfaces[self._send_from :])
            self._delivered = sent and self._delivered
            return
        surface = self._surfaces[self._index]
        with self._bounded(shield=True) as scope:
            try:
                await live.close(text, ok=ok)
            except PlatformError as exc:
                self._surface_failed(surface, exc)
            else:
                self._closes += 1
                return
        if scope.cancelled_caught:
            self._surface_failed(surface, TimeoutError(f"{surface.name}: close timed out"))
        # The user still gets the text: once more through the surfaces after this one.
        rest = [*self._surfaces[self._index + 1 :], *self._surfaces[: self._index]]
        self._delivered = await self._send_once(text, rest) and self._delivered

    async def _send_once(self, text: str, candidates: Sequence[Surface]) -> bool:
        """Send ``text`` finished, in pieces when long, each piece once (shielded, bounded)."""
        pieces = split_text(text, self._options.message_limit_chars)
        sent = await send_pieces(
            pieces,
            candidates,
            bound=lambda: self._bounded(shield=True),
            on_failure=self._surface_failed,
        )
        self._sends += sent.calls
        if sent.surface is None:
            log.error(
                "no surface delivered the reply (%d of %d pieces sent, %d characters)",
                sent.calls,
                len(pieces),
                len(text),
            )
            return False
        self._used = sent.surface
        # The answer's next finished message continues where this one ended.
        self._send_from = next(
            (i for i, s in enumerate(self._surfaces) if s is sent.surface), self._send_from
        )
        note_surface(sent.surface.name)
        return True

    def _call_bound(self) -> float:
        """Seconds allowed for one surface call, queueing for the rate budget included."""
        return self._close_timeout + max(0.0, self._budget_interval())

    def _bounded(self, *, shield: bool) -> AbstractContextManager[anyio.CancelScope]:
        """The cancel scope around one call: ``_call_bound``, stretched while the call
        waits out a rate limit before the reply's deadline."""
        return self._deadline.bound(self._call_bound(), shield=shield)

    def _surface_failed(self, surface: Surface, error: Exception) -> None:
        log.warning("surface %s failed: %s", surface.name, error)
        self._on_surface_error(surface, error)

    def _result(self) -> RelayResult:
        return RelayResult(
            text=self._pacer.final_text,
            ok=self._pacer.ok and self._delivered,
            surface=self._used.name if self._used is not None else None,
            opens=self._opens,
            updates=self._updates,
            closes=self._closes,
            send_once=self._sends,
            splits=self._splits,
            error=self._pacer.failure,
            ending=self._pacer.ending,
            failure=self._failure if self._pacer.ending is Ending.FAILED else None,
        )
