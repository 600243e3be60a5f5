"""Stopping an answer: the replies running here, and which stop may reach which.

A user stops an answer three ways (README, "Stopping an answer"): the stop button of a
streaming card (a card callback, naming its ``outTrackId``, or the
``conversationToken`` of an AI-assistant card), a stop word typed in the conversation,
or, under ``[chat] on_new_message = "interrupt"``, a newer message. Each becomes a
``StopRequest`` for a target:

- ``card:<outTrackId>``, ``token:<conversationToken>``: the reply showing that message;
- ``lane:<assistant>/<conversation>``: the reply streaming in that conversation, and
  the requester's Turns waiting in it before the Turn ``until`` that asked (the stop
  word, or the newer message): those are dropped, never answered.

``Stops`` keeps the replies running in this process (``RunningReply``, which is the
relay's ``StopSignal``) with their targets: the lane and the Turn's token from the
start, each opened message's card or token as it opens (``StoppableSurface``,
``RunningReply.opened``). A request
for a target running here stops the reply at once if its requester may (``allows``: in a
group only the one who asked, so a callback that names nobody is refused; in a single
chat or the magic wand its one user); a repeat finds the reply stopped and changes
nothing. A lane request also leaves a ``LaneDrop`` that the pipeline reads before each
Turn of the lane (``verdict``), until the Turn ``until`` comes up.

**Elsewhere.** With a shared store (Redis: ``mailbox``) a request for nothing running
here goes to the ``StopMailbox``; every instance takes the requests for its own
targets (its replies, and the lanes it works on) every ``POLL_INTERVAL`` seconds and
handles them as if they had arrived here. Without one, a request found nowhere was for
a reply that ended already, and is only logged.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import anyio

from bridge.delivery.surface import LiveMessage, Surface, WrappedSurface
from bridge.errors import StateError
from bridge.state.stop_mailbox import StopMailbox, StopRequest
from bridge.turn import ConversationType, Turn

__all__ = [
    "POLL_INTERVAL",
    "LaneDrop",
    "RunningReply",
    "StopOutcome",
    "StopRequest",
    "StoppableSurface",
    "Stops",
    "requester_of",
]

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
"""Seconds between two looks into the mailbox for this process's targets."""
DROP_TTL = 600.0
"""Seconds a lane's drop waits for its ``until`` Turn before it is forgotten."""
_RAN_KEPT = 2000  # Turn ids remembered as run, so a late lane request changes nothing


def requester_of(turn: Turn) -> frozenset[str]:
    """The ids that name the Turn's sender (staff id, union id), as callbacks give them."""
    return frozenset(i for i in (turn.sender.staff_id, turn.sender.union_id) if i)


class StopOutcome(StrEnum):
    """What became of a stop request here."""

    STOPPED = "stopped"  # a reply here was stopped (or its lane will drop Turns)
    REPEATED = "repeated"  # the reply was stopped already
    REFUSED = "refused"  # someone other than the requester, in a group
    FORWARDED = "forwarded"  # left in the mailbox for another instance
    UNKNOWN = "unknown"  # nothing runs for it (ended already)


class RunningReply:
    """One reply being answered here; the relay waits on it (``StopSignal``)."""

    def __init__(
        self,
        lane: str,
        requester: frozenset[str],
        group: bool,
        register: Callable[[str, RunningReply], None] = lambda target, reply: None,
    ) -> None:
        self.lane = lane
        self.targets: set[str] = {f"lane:{lane}"}
        self._requester = requester
        self._group = group
        self._register = register
        self._stopped = anyio.Event()
        self.reason = ""

    def opened(self, handle: Mapping[str, str] | None) -> None:
        """A message of it opened: its card or token is a target from now on."""
        for name, prefix in (("out_track_id", "card"), ("token", "token")):
            value = (handle or {}).get(name)
            if value:
                self.targets.add(f"{prefix}:{value}")
                self._register(f"{prefix}:{value}", self)

    @property
    def stopped(self) -> bool:
        """True once a stop reached it."""
        return self._stopped.is_set()

    def allows(self, requester: frozenset[str]) -> bool:
        """May ``requester`` stop it: in a group only the one who asked (§13.3.3)."""
        return not self._group or bool(requester & self._requester)

    def stop(self, reason: str) -> bool:
        """Stop it; False when it was stopped already (a repeat)."""
        if self._stopped.is_set():
            return False
        self.reason = reason
        self._stopped.set()
        return True

    async def wait(self) -> None:
        """Return once it is stopped."""
        await self._stopped.wait()


@dataclass(frozen=True, slots=True)
class LaneDrop:
    """A lane's waiting Turns to drop: the requester's, up to the Turn ``until``."""

    until: str
    requester: frozenset[str]
    expires: float

    def covers(self, turn: Turn) -> bool:
        """True when ``turn`` is the requester's (anyone's outside a group)."""
        if turn.conversation_type is not ConversationType.GROUP:
            return True
        return bool(requester_of(turn) & self.requester)


class Stops:
    """The replies running in this process, and the stops that reach them."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        mailbox: StopMailbox | None = None,
        lanes: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self._clock = clock
        self._mailbox = mailbox
        self._lanes = lanes  # the lanes with a worker here (their requests are ours)
        self._replies: dict[str, RunningReply] = {}
        self._drops: dict[str, LaneDrop] = {}
        self._ran: OrderedDict[str, None] = OrderedDict()

    # -- replies ---------------------------------------------------------------------

    @contextmanager
    def running(self, turn: Turn, lane: str) -> Iterator[RunningReply]:
        """Register the reply to ``turn`` for the block; a stop may reach it meanwhile."""
        group = turn.conversation_type is ConversationType.GROUP
        reply = RunningReply(lane, requester_of(turn), group, self._replies.__setitem__)
        if turn.handles.conversation_token:
            reply.targets.add(f"token:{turn.handles.conversation_token}")
        for target in reply.targets:
            self._replies[target] = reply
        try:
            yield reply
        finally:
            for target in reply.targets:
                if self._replies.get(target) is reply:
                    del self._replies[target]

    # -- requests --------------------------------------------------------------------

    async def request(self, request: StopRequest) -> StopOutcome:
        """Stop what ``request`` names: here, or through the mailbox (see module doc)."""
        outcome = self._handle(request, here=self._mailbox is None)
        if outcome is not StopOutcome.UNKNOWN or self._mailbox is None:
            if outcome is StopOutcome.UNKNOWN:
                log.info("stop (%s) for %s: nothing runs for it", request.reason, request.target)
            return outcome
        try:
            with anyio.fail_after(2.0):
                await self._mailbox.post(request)
        except (StateError, TimeoutError) as exc:
            log.warning("stop (%s) for %s not forwarded: %s", request.reason, request.target, exc)
            return StopOutcome.UNKNOWN
        log.info(
            "stop (%s) for %s left for the instance running it", request.reason, request.target
        )
        return StopOutcome.FORWARDED

    def _handle(self, request: StopRequest, *, here: bool) -> StopOutcome:
        """Apply ``request`` to what runs here; ``here``: its lane is this process's."""
        if request.until is not None and request.until in self._ran:
            return StopOutcome.REPEATED  # the Turn that asked was answered: too late
        reply = self._replies.get(request.target)
        lane = request.target.removeprefix("lane:") if request.target.startswith("lane:") else None
        outcome = StopOutcome.UNKNOWN
        if lane is not None and request.until is not None and (here or reply is not None):
            expires = self._clock() + DROP_TTL
            self._drops[lane] = LaneDrop(request.until, request.requester, expires)
            outcome = StopOutcome.STOPPED
        if reply is None:
            return outcome
        if not reply.allows(request.requester):
            log.warning("stop (%s) refused: not the one who asked", request.reason)
            return outcome if outcome is StopOutcome.STOPPED else StopOutcome.REFUSED
        if not reply.stop(request.reason):
            return StopOutcome.REPEATED
        log.info("reply in %s stopped (%s)", reply.lane, request.reason)
        return StopOutcome.STOPPED

    async def poll_forever(self) -> None:
        """Take this process's requests from the mailbox every ``POLL_INTERVAL``."""
        if self._mailbox is None:
            return
        while True:
            await anyio.sleep(POLL_INTERVAL)
            targets = sorted({*self._replies, *(f"lane:{lane}" for lane in self._lanes())})
            if not targets:
                continue
            try:
                requests = await self._mailbox.take(targets)
            except StateError as exc:
                log.warning("stop requests not read: %s", exc)
                continue
            for request in requests:
                self._handle(request, here=request.target.startswith("lane:"))

    # -- the lane's Turns ------------------------------------------------------------

    def drops(self, lane: str, turn_id: str, turn: Turn) -> bool:
        """True when the Turn ``turn_id`` of ``lane`` is to be dropped, not answered.

        Call once per Turn, before answering it: a Turn not dropped counts as run (a
        lane request that names it later changes nothing), and the Turn a drop waits
        for ends the drop.
        """
        drop = self._drops.get(lane)
        self._ran[turn_id] = None
        while len(self._ran) > _RAN_KEPT:
            self._ran.popitem(last=False)
        if drop is None:
            return False
        if turn_id == drop.until or drop.expires <= self._clock():
            del self._drops[lane]
            return False
        if drop.covers(turn):
            del self._ran[turn_id]
            return True
        return False


class StoppableSurface(WrappedSurface):
    """A surface whose opened messages become targets of their reply (``opened``)."""

    def __init__(self, inner: Surface, reply: RunningReply) -> None:
        super().__init__(inner)
        self._reply = reply

    async def open(self) -> LiveMessage:
        message = await self._inner.open()
        self._reply.opened(message.handle)
        return message
