"""The pipeline: accepted Turns in, answers out, and nothing accepted is ever lost.

**Accepting** (``accept``, awaited by the inbound doors before they ACK): the Turn is
written to the store's **Turn journal** together with the claim of its delivery ids
(frame id, ``msgId``…), in one atomic step, *before* the door hears ``ACCEPTED``
(``bridge.admission``). So:

- a redelivery is ``DUPLICATE`` (its ids are claimed; and while the Turn waits for its
  answer the claim never expires, so it is never dropped as new nor answered twice);
- past ``IntakeLimits.per_conversation`` Turns waiting in one conversation, or
  ``IntakeLimits.total`` in all, the Turn is ``BUSY`` with a ``retry_after``, and nothing
  is recorded: the sender (DingTalk) comes back later;
- once intake stops (shutdown) it is ``CLOSED``.

**Answering**: accepted Turns queue in memory per conversation (one lane each, arrival
order, one answer at a time); conversations run in parallel up to ``max_concurrent``
(``bridge.answerer``). A Turn leaves the journal only when its answer is delivered or it
has definitively failed (the user was shown the failure, or nothing could ever answer
it). A crash, a kill or a shutdown whose grace ran out leaves the rest journaled.

**Replay** (``replay``, after a start-up adopted the journal entries of processes that are
gone, ``bridge.recovery``): each entry is queued again in its original order; one older
than ``IntakeLimits.replay_max_age`` is not answered, the user is told once that the
answer was lost (``lost_notice``) and the entry is removed.

``answer`` runs one Turn at once with no journal (``bridge send``, the push API: their
caller waits for the result and sees a failure). Shutdown: ``stop_intake`` refuses new
Turns, ``drain`` waits for the queued and running ones up to a grace period, and leaving
the ``async with`` block cancels the rest, whose relays still close their messages
(shielded, bounded); their journal entries stay for the next start.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup

from bridge.admission import ACCEPTED, Admission, Outcome
from bridge.answerer import (
    Answerer,
    AnswerSource,
    AnswerStats,
    AssistantRuntime,
    surface_is_broken,
)
from bridge.config import MemoryConfig
from bridge.delivery.relay import RelayResult
from bridge.delivery.router import SurfaceHealth
from bridge.errors import InboundError, StateError
from bridge.logcontext import install as install_log_context
from bridge.state import JournalEntry, Store, Verdict
from bridge.turn import Turn

__all__ = [
    "AnswerSource",
    "AssistantRuntime",
    "IntakeLimits",
    "Pipeline",
    "PipelineStats",
    "fingerprint",
    "surface_is_broken",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """How much may wait, and what happens to what waited too long (``[serve]`` keys)."""

    per_conversation: int = 20
    total: int = 2000
    retry_after: float = 10.0
    replay_max_age: float = 3600.0
    lost_notice: str = "（抱歉，服务重启，这条消息的回答已丢失，请重新提问）"


@dataclass
class PipelineStats(AnswerStats):
    """Counters for /healthz, logs and tests (answers' counters from ``AnswerStats``).

    ``queued``: accepted Turns of this process not yet running; ``journaled``: its
    entries in the Turn journal (queued, running, or being finished).
    """

    accepted: int = 0
    duplicates: int = 0
    busy: int = 0
    queued: int = 0
    journaled: int = 0
    replayed: int = 0
    lost: int = 0


def fingerprint(delivery_id: str) -> str:
    """What the store keeps of a delivery id: a hash (an action's id can be its token)."""
    return hashlib.blake2b(delivery_id.encode(), digest_size=16).hexdigest()


def _shown(delivery_ids: Sequence[str]) -> str:
    """Delivery ids for a log line; an action's may be its conversationToken: masked."""
    return ",".join("act:…" if i.startswith("act:") else i for i in delivery_ids)


@dataclass(slots=True)
class _Job:
    """One journaled Turn waiting in its lane; ``lost`` means: tell, do not answer."""

    entry: JournalEntry
    turn: Turn
    lost: bool = False


@dataclass
class _Lane:
    """The queue of one conversation; a worker drains it, one Turn at a time."""

    jobs: deque[_Job] = field(default_factory=deque)


class Pipeline:
    """Runs Turns to answers; use as ``async with Pipeline(...) as pipeline``.

    ``owner`` is this process's instance id (``bridge.state.lease``), recorded on its
    journal entries and open messages; "" (tests) records them as nobody's.
    """

    def __init__(
        self,
        runtimes: Mapping[str, AssistantRuntime],
        store: Store,
        memory: MemoryConfig,
        *,
        max_concurrent: int,
        intake: IntakeLimits | None = None,
        owner: str = "",
        health: SurfaceHealth | None = None,
        clock: Callable[[], float],
        today: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.stats = PipelineStats()
        self._answerer = Answerer(
            runtimes,
            store,
            memory,
            max_concurrent=max_concurrent,
            stats=self.stats,
            owner=owner,
            health=health,
            clock=clock,
            today=today,
        )
        self._store = store
        self._memory = memory
        self._intake = intake or IntakeLimits()
        self._owner = owner
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._busy = 0  # accepts in progress + jobs in lanes: drain waits for all of them
        self._accepting = False
        self._idle = anyio.Event()
        self._idle.set()
        self._tg: TaskGroup | None = None
        self._stack = AsyncExitStack()
        install_log_context()

    async def __aenter__(self) -> Pipeline:
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._accepting = True
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        # Leaving cancels what still runs; each relay closes its message on the way out,
        # and the journal keeps every Turn not finished for the next start.
        self._accepting = False
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
        return await self._stack.__aexit__(*exc_info)

    # ------------------------------------------------------------------ intake

    async def accept(self, turn: Turn) -> Admission:
        """Journal ``turn`` for answering, or say why not; returns before any model work."""
        if not self._accepting:
            return Admission(Outcome.CLOSED, "bridge is shutting down")
        if not self._answerer.knows(turn.assistant):
            raise InboundError(f"no assistant named {turn.assistant!r}", status=404)
        now = self._clock()
        entry = JournalEntry(
            turn_id=uuid.uuid4().hex,
            lane=f"{turn.assistant}/{turn.conversation_key}",
            payload=turn.to_json(),
            accepted_at=now,
            owner=self._owner,
            delivery_keys=tuple(dict.fromkeys(fingerprint(i) for i in turn.delivery_ids)),
        )
        self._hold()
        try:
            # Shielded: once the store has journaled the Turn, it must reach its lane
            # even if the door gives up waiting (a cancelled door would orphan it).
            with anyio.CancelScope(shield=True):
                verdict = await self._store.admit(
                    entry,
                    now=now,
                    dedup_ttl=self._memory.dedup_ttl,
                    max_per_lane=self._intake.per_conversation,
                    max_total=self._intake.total,
                )
                if verdict is Verdict.ADMITTED:
                    self.stats.accepted += 1
                    self.stats.journaled += 1
                    self._schedule(_Job(entry, turn))
        finally:
            self._release()
        return self._admission(verdict, turn)

    def _admission(self, verdict: Verdict, turn: Turn) -> Admission:
        if verdict is Verdict.ADMITTED:
            return ACCEPTED
        if verdict is Verdict.DUPLICATE:
            self.stats.duplicates += 1
            log.info("duplicate delivery %s dropped", _shown(turn.delivery_ids))
            return Admission(Outcome.DUPLICATE, "already accepted")
        self.stats.busy += 1
        if verdict is Verdict.LANE_FULL:
            reason = f"{self._intake.per_conversation} messages of this conversation wait already"
        else:
            reason = f"{self._intake.total} messages wait already"
        log.warning("refused a message of %s: %s", turn.conversation_key, reason)
        return Admission(Outcome.BUSY, reason, retry_after=self._intake.retry_after)

    async def replay(self, entries: Sequence[JournalEntry]) -> int:
        """Queue journal entries adopted from gone processes, in their order; returns how many.

        An entry older than ``replay_max_age`` is queued to be told it was lost instead;
        one that cannot be read, or names an assistant no longer configured, is deleted
        with an error in the log (nobody could ever answer it).
        """
        now = self._clock()
        queued = 0
        for entry in entries:
            try:
                turn = Turn.from_json(entry.payload)
            except ValueError as exc:
                log.error("journaled Turn %s dropped, unreadable: %s", entry.turn_id, exc)
                await self._store.finish(entry.turn_id, now=now)
                continue
            if not self._answerer.knows(turn.assistant):
                log.error(
                    "journaled Turn %s dropped: no assistant %r is configured",
                    entry.turn_id,
                    turn.assistant,
                )
                await self._store.finish(entry.turn_id, now=now)
                continue
            lost = now - entry.accepted_at > self._intake.replay_max_age
            self.stats.journaled += 1
            self.stats.replayed += not lost
            self._schedule(_Job(entry, turn, lost=lost))
            queued += 1
        if queued:
            log.info("replaying %d journaled Turns left by a previous run", queued)
        return queued

    def stop_intake(self) -> None:
        """Refuse new Turns from now on (SIGTERM); queued ones are still answered."""
        self._accepting = False

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for queued and running Turns; True if all ended."""
        with anyio.move_on_after(grace):
            await self._idle.wait()
            return True
        return False

    def _hold(self) -> None:
        if self._busy == 0:
            self._idle = anyio.Event()
        self._busy += 1

    def _release(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    # ------------------------------------------------------------------ lanes

    def _schedule(self, job: _Job) -> None:
        """Put ``job`` at the end of its lane, starting the lane's worker if it has none."""
        if self._tg is None:
            # The pipeline is closing: the entry stays journaled for the next start.
            self.stats.journaled -= 1
            return
        self._hold()
        self.stats.queued += 1
        lane = self._lanes.get(job.entry.lane)
        if lane is not None:
            lane.jobs.append(job)  # its worker will get to it, in order
            return
        self._lanes[job.entry.lane] = lane = _Lane(deque([job]))
        self._tg.start_soon(self._work, job.entry.lane, lane)

    async def _work(self, key: str, lane: _Lane) -> None:
        try:
            while lane.jobs:
                job = lane.jobs.popleft()
                try:
                    await self._run(job)
                finally:
                    self._release()
        finally:
            del self._lanes[key]

    async def _run(self, job: _Job) -> None:
        """One job to its end; cancellation leaves its entry journaled (it is not done)."""
        waiting = True

        def started() -> None:
            nonlocal waiting
            if waiting:
                waiting = False
                self.stats.queued -= 1

        try:
            if job.lost:
                started()
                self.stats.lost += 1
                log.warning(
                    "journaled Turn %s is older than %.0fs: telling the user it was lost",
                    job.entry.turn_id,
                    self._intake.replay_max_age,
                )
                await self._answerer.tell(job.turn, self._intake.lost_notice)
            else:
                await self._answerer.answer(job.turn, started=started)
        except Exception:
            # The boundary of one unit of work: whatever failed, this conversation's
            # next Turn and every other conversation go on. The relay has closed what it
            # opened; retrying a Turn that fails like this would fail again.
            log.exception("answer for %s failed", job.turn.conversation_key)
        finally:
            started()
        await self._finish(job)

    async def _finish(self, job: _Job) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self._store.finish(job.entry.turn_id, now=self._clock())
            except StateError as exc:
                # It stays journaled: the next start answers it again, a lesser evil
                # than losing it.
                log.error("journaled Turn %s not removed: %s", job.entry.turn_id, exc)
            self.stats.journaled -= 1

    # ------------------------------------------------------------------ direct

    async def answer(self, turn: Turn) -> RelayResult | None:
        """Answer one Turn now (no journal, no queue); None when no surface can reach it."""
        return await self._answerer.answer(turn)
