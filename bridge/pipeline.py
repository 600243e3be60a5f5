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

**Answering**: the journal is the queue. Each conversation is a **lane** of the journal
with one owner, the only instance that answers it (``bridge.state.base``, "Lanes"): a
Turn accepted into a lane another instance is answering joins that owner's lane, and
that instance answers it after the Turns before it. This process runs one worker per
lane it works on; the worker asks the store for its lane's next Turn
(``Store.next_turn``) after each answer, so it finds the Turns other instances accepted
too, and ends once the lane is empty or another instance's. Answers run one at a time
per lane, conversations in parallel up to ``max_concurrent`` (``bridge.answerer``). A
Turn leaves the journal only when its answer is delivered or it has definitively failed
(the user was shown the failure, or nothing could ever answer it). A crash, a kill or a
shutdown whose grace ran out leaves the rest journaled.

**Replay** (``replay``, after this process adopted the lanes of instances that are gone,
``bridge.recovery``): their Turns are answered in their original order; one older than
``IntakeLimits.replay_max_age`` is not answered, the user is told once that the answer
was lost (``lost_notice``) and the entry is removed. A Turn another instance accepted is
held to the same age limit. ``housekeep`` (run periodically) starts a worker for every
lane the store says is this process's and has none, a safety net.

**An unreachable store** (Redis down): a Turn cannot be journaled, so it is refused as
``UNAVAILABLE`` (the door answers 503: DingTalk may deliver it again) and nothing else
breaks. Answers streaming go on; a worker retries the store until it answers (the next
Turn, removing an answered one), with a growing pause, so nothing is answered twice or
lost, and work resumes by itself when the store is back.

**Stopping** (``bridge.stops``): each answer runs registered as a ``RunningReply``, which
the stop button's callback (``stop``) or a stop word reaches. A Turn that is a stop word
(``[chat] stop_words``) asks, once accepted, to stop what streams in its lane and to
drop the sender's Turns waiting before it; when its turn comes it is answered with
``stop_reply``. Under ``on_new_message = "interrupt"`` every new Turn asks the same,
and is then answered. Dropped Turns leave the journal unanswered (``stats.dropped``).
With a shared store a stop for a reply running elsewhere goes through the store's
``StopMailbox``.

``answer`` runs one Turn at once with no journal (``bridge send``, the push API: their
caller waits for the result and sees a failure); it holds a place under the same bounds
until it ends, and past them is ``Refused`` (BUSY) before anything runs. Shutdown:
``stop_intake`` refuses new Turns, ``drain`` waits for the queued and running ones up
to a grace period, and leaving the ``async with`` block cancels the rest, whose relays
still close their messages (shielded, bounded); their journal entries stay for the next
start.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup

from bridge.admission import ACCEPTED, Admission, IntakeLimits, Outcome, Places, Refused
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
from bridge.lanes import Job, Lanes, LaneStats
from bridge.logcontext import install as install_log_context
from bridge.observe.hooks import UNOBSERVED, AnswerObserver
from bridge.state import JournalEntry, Store, Verdict
from bridge.state.stop_mailbox import StopMailbox, StopRequest
from bridge.stops import StopOutcome, Stops, requester_of
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


@dataclass
class PipelineStats(AnswerStats, LaneStats):
    """Counters for /healthz, logs and tests (``queued`` and ``journaled``: ``LaneStats``;
    answers' counters: ``AnswerStats``). ``unavailable``: Turns refused because the
    state store could not be reached; ``dropped``: Turns a stop or a newer message
    dropped unanswered."""

    accepted: int = 0
    duplicates: int = 0
    busy: int = 0
    unavailable: int = 0
    replayed: int = 0
    lost: int = 0
    dropped: int = 0


def fingerprint(delivery_id: str) -> str:
    """What the store keeps of a delivery id: a hash (an action's id can be its token)."""
    return hashlib.blake2b(delivery_id.encode(), digest_size=16).hexdigest()


def _shown(delivery_ids: Sequence[str]) -> str:
    """Delivery ids for a log line; an action's may be its conversationToken: masked."""
    return ",".join("act:…" if i.startswith("act:") else i for i in delivery_ids)


class Pipeline:
    """Runs Turns to answers; use as ``async with Pipeline(...) as pipeline``.

    ``owner`` is this process's instance id (``bridge.state.lease``), recorded on its
    journal entries and open messages; "" (tests) records them as nobody's. ``observer``
    watches every reply (``bridge.observe``). ``stop_mailbox`` carries stops between
    instances sharing the store (``bridge.stops``).
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
        observer: AnswerObserver = UNOBSERVED,
        stop_mailbox: StopMailbox | None = None,
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
            observer=observer,
        )
        self._store = store
        self._memory = memory
        self._intake = intake or IntakeLimits()
        self._places = Places(self._intake)
        self._owner = owner
        self._clock = clock
        self._lanes = Lanes(store, owner, self.stats, run=self._run, read=self._job, clock=clock)
        self._chats = {name: runtime.config.chat for name, runtime in runtimes.items()}
        self.stops = Stops(clock=clock, mailbox=stop_mailbox, lanes=self._lanes.keys)
        self._accepting = False
        self._tg: TaskGroup | None = None
        self._stack = AsyncExitStack()
        install_log_context()

    async def __aenter__(self) -> Pipeline:
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._lanes.start(self._tg)
        self._tg.start_soon(self.stops.poll_forever)
        self._accepting = True
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        # Leaving cancels what still runs; each relay closes its message on the way out,
        # and the journal keeps every Turn not finished for the next start.
        self._accepting = False
        tg, self._tg = self._tg, None
        self._lanes.start(None)
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
        self._lanes.hold()
        try:
            # Shielded: once the store has journaled the Turn, it must reach its lane
            # even if the door gives up waiting (a cancelled door would orphan it).
            with anyio.CancelScope(shield=True):
                try:
                    verdict = await self._store.admit(
                        entry,
                        now=now,
                        dedup_ttl=self._memory.dedup_ttl,
                        max_per_lane=self._intake.per_conversation,
                        max_total=self._intake.total,
                    )
                except StateError as exc:
                    # Perhaps journaled all the same (a lost reply): the lane's worker
                    # looks once the store answers again.
                    self._lanes.wake(entry.lane)
                    self.stats.unavailable += 1
                    log.warning("refused a message of %s: %s", turn.conversation_key, exc)
                    reason = f"state store unavailable: {exc.message}"
                    return Admission(Outcome.UNAVAILABLE, reason, retry_after=5.0)
                if verdict is Verdict.ADMITTED:
                    self.stats.accepted += 1
                    self._lanes.wake(entry.lane, Job(entry, turn))
        finally:
            self._lanes.release()
        if verdict is Verdict.ADMITTED:
            await self._stop_for(entry, turn)
        return self._admission(verdict, turn)

    async def _stop_for(self, entry: JournalEntry, turn: Turn) -> StopOutcome | None:
        """A stop word, or a new Turn under ``interrupt``: stop what streams in its lane."""
        chat = self._chats[turn.assistant]
        if turn.proactive:
            return None
        if chat.is_stop_word(turn.text):
            reason = "stop word"
        elif chat.on_new_message == "interrupt":
            reason = "newer message"
        else:
            return None
        target = f"lane:{entry.lane}"
        return await self.stops.request(
            StopRequest(target, requester_of(turn), reason, until=entry.turn_id)
        )

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
        queued = 0
        for entry in entries:
            job = await self._job(entry)
            if job is None:
                await self._store.finish(entry.turn_id, now=self._clock())
                continue
            if self._lanes.knows(entry.lane, entry.turn_id):
                continue  # handed to its worker already
            self.stats.replayed += not job.lost
            self._lanes.wake(entry.lane, job)
            queued += 1
        if queued:
            log.info("replaying %d journaled Turns left by a gone instance", queued)
        return queued

    async def housekeep(self) -> int:
        """The periodic safety net; returns how many lanes it started a worker for.

        Deletes the records of closed messages the store could not delete while it was
        away, and starts a worker for each lane the store says is this process's and
        has none here (adopted, or a Turn whose admission reply was lost); the worker
        finds the Turns itself. Raises ``StateError`` while the store is away.
        """
        await self._answerer.leftovers.retry(self._store)
        woken = 0
        for key in await self._store.lanes(self._owner):
            if not self._lanes.working(key):
                log.info("lane %s has Turns of this process and no worker: starting one", key)
                self._lanes.wake(key)
                woken += 1
        return woken

    async def _job(self, entry: JournalEntry) -> Job | None:
        """The job for ``entry``; None (to be removed) when nobody could ever answer it."""
        try:
            turn = Turn.from_json(entry.payload)
        except ValueError as exc:
            log.error("journaled Turn %s dropped, unreadable: %s", entry.turn_id, exc)
            return None
        if not self._answerer.knows(turn.assistant):
            log.error(
                "journaled Turn %s dropped: no assistant %r is configured",
                entry.turn_id,
                turn.assistant,
            )
            return None
        lost = self._clock() - entry.accepted_at > self._intake.replay_max_age
        return Job(entry, turn, lost=lost)

    def stop_intake(self) -> None:
        """Refuse new Turns from now on (SIGTERM); queued ones are still answered."""
        self._accepting = False

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for queued and running Turns; True if all ended."""
        with anyio.move_on_after(grace):
            await self._lanes.wait_idle()
            return True
        return False

    # ------------------------------------------------------------------ answering

    async def _run(self, job: Job) -> None:
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
            elif self.stops.drops(job.entry.lane, job.entry.turn_id, job.turn):
                started()
                self.stats.dropped += 1
                log.info("Turn %s dropped: a stop came after it", job.entry.turn_id)
            elif not job.turn.proactive and self._chats[job.turn.assistant].is_stop_word(
                job.turn.text
            ):
                started()
                await self._answerer.tell(job.turn, self._chats[job.turn.assistant].stop_reply)
            else:
                with self.stops.running(job.turn, job.entry.lane) as reply:
                    await self._answerer.answer(job.turn, started=started, stop=reply)
        except Exception:
            # The boundary of one unit of work: whatever failed, this conversation's
            # next Turn and every other conversation go on. The relay has closed what it
            # opened; retrying a Turn that fails like this would fail again.
            log.exception("answer for %s failed", job.turn.conversation_key)
        finally:
            started()

    # ------------------------------------------------------------------ direct

    async def answer(self, turn: Turn) -> RelayResult | None:
        """Answer one Turn now (no journal, no queue); None when no surface can reach it.

        ``Refused`` (BUSY) past the bounds, counting this process's journaled Turns too."""
        try:
            with self._places.held(turn.conversation_key, others=self.stats.journaled):
                return await self._answerer.answer(turn)
        except Refused as exc:
            self.stats.busy += 1
            log.warning("refused a push to %s: %s", turn.conversation_key, exc.message)
            raise
