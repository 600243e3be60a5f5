"""Lane workers: each conversation this process answers, drained from the Turn journal.

A **lane** is one conversation's queue in the journal, with one owner, the only
instance that answers it (``bridge.state.base``, "Lanes"). ``Lanes`` runs one worker
per lane this process works on. The worker asks the store for its lane's next Turn
(``Store.next_turn``) before each answer, so it also finds the Turns other instances
accepted into the lane, answers it through the pipeline's ``run``, removes it from the
journal (``finish``) and asks again; it ends once the lane is empty or another
instance's. One answer at a time per lane, lanes in parallel.

Turns accepted or adopted here are handed in with ``wake(lane, job)`` (they are counted
as queued at once, and not parsed again); a Turn the worker meets that it was not
given is read with the pipeline's ``read``. ``wake(lane)`` alone only makes sure a
worker runs.

**An unreachable store.** A worker that cannot ask for its next Turn, or cannot remove
an answered one, tries again after a pause (0.5 s, doubling up to 5 s) until the store
answers, or until the process shuts down: it never goes on past a Turn it could not
remove, since the store would hand it out again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskGroup

from bridge.errors import StateError
from bridge.state import JournalEntry, Store
from bridge.turn import Turn

__all__ = ["Job", "LaneStats", "Lanes"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Job:
    """One journaled Turn to answer; ``lost`` means: tell, do not answer."""

    entry: JournalEntry
    turn: Turn
    lost: bool = False


@dataclass
class LaneStats:
    """``queued``: Turns this process will answer, not yet running; ``journaled``: those
    and the ones running or being removed. A Turn accepted here into another instance's
    lane counts until the lane's worker learns the lane is not this process's."""

    queued: int = 0
    journaled: int = 0


@dataclass
class _Lane:
    """A lane with a worker here: ``known`` Turns handed in, not yet taken from the store;
    ``wake``: something was handed in since the worker last asked the store."""

    known: dict[str, Job] = field(default_factory=dict)
    wake: bool = False


class Lanes:
    """The lane workers of one process; ``start`` gives them a task group to run in."""

    def __init__(
        self,
        store: Store,
        owner: str,
        stats: LaneStats,
        *,
        run: Callable[[Job], Awaitable[None]],
        read: Callable[[JournalEntry], Awaitable[Job | None]],
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._owner = owner
        self._stats = stats
        self._run = run
        self._read = read
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._busy = 0  # holds (accepts in progress) + workers: ``idle`` when none
        self._idle = anyio.Event()
        self._idle.set()
        self._tg: TaskGroup | None = None

    def start(self, tg: TaskGroup | None) -> None:
        """Run workers in ``tg`` from now on; None: closing, start no more."""
        self._tg = tg

    def working(self, key: str) -> bool:
        """True while lane ``key`` has a worker here."""
        return key in self._lanes

    def keys(self) -> list[str]:
        """The lanes with a worker here."""
        return list(self._lanes)

    def knows(self, key: str, turn_id: str) -> bool:
        """True when ``turn_id`` was handed to lane ``key``'s worker and not yet taken."""
        lane = self._lanes.get(key)
        return lane is not None and turn_id in lane.known

    def wake(self, key: str, job: Job | None = None) -> None:
        """Make sure lane ``key`` has a worker; ``job`` is a Turn of it that it will find."""
        if self._tg is None:
            return  # closing: the journal keeps it for the next start or another instance
        lane = self._lanes.get(key)
        if lane is None:
            self._lanes[key] = lane = _Lane()
            self.hold()
            self._tg.start_soon(self._work, key, lane)
        if job is not None:
            lane.known[job.entry.turn_id] = job
            self._stats.queued += 1
            self._stats.journaled += 1
        lane.wake = True

    async def wait_idle(self) -> None:
        """Wait until no worker runs and nothing is held."""
        await self._idle.wait()

    def hold(self) -> None:
        """Count something in progress (an accept): ``wait_idle`` waits for it too."""
        if self._busy == 0:
            self._idle = anyio.Event()
        self._busy += 1

    def release(self) -> None:
        """The end of what ``hold`` counted."""
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def _work(self, key: str, lane: _Lane) -> None:
        """Answer lane ``key``'s Turns while this process owns it and it has any."""
        try:
            while True:
                lane.wake = False
                entry = await self._next(key)
                if entry is None:
                    if lane.wake:
                        continue  # a Turn was handed in while the store was asked: ask again
                    return
                job = lane.known.pop(entry.turn_id, None)
                if job is None:
                    # Accepted by another instance, or an adopted Turn: new to this process.
                    self._stats.journaled += 1
                    job = await self._read(entry)
                    if job is None:
                        await self._finish(entry)  # nobody could ever answer it
                        continue
                    self._stats.queued += 1
                await self._run(job)  # cancelled (shutdown): it stays journaled
                await self._finish(job.entry)
        finally:
            del self._lanes[key]
            # Handed in, never taken: another instance owns the lane and answers them
            # (or this process is closing, and the journal keeps them).
            self._stats.queued -= len(lane.known)
            self._stats.journaled -= len(lane.known)
            self.release()

    async def _next(self, key: str) -> JournalEntry | None:
        """The lane's next Turn if the lane is this process's; waits out the store."""
        for pause in _pauses():
            try:
                return await self._store.next_turn(key, self._owner)
            except StateError as exc:
                log.warning("lane %s waits for the state store: %s", key, exc)
            await anyio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _finish(self, entry: JournalEntry) -> None:
        """Remove a Turn done with from the journal, retrying while the store is away.

        A shutdown meanwhile leaves it journaled, and it is answered again later: a
        lesser evil than losing it.
        """
        try:
            for pause in _pauses():
                with anyio.CancelScope(shield=True):
                    try:
                        await self._store.finish(entry.turn_id, now=self._clock())
                        return
                    except StateError as exc:
                        log.warning(
                            "Turn %s not removed from the journal yet: %s", entry.turn_id, exc
                        )
                await anyio.sleep(pause)
        finally:
            self._stats.journaled -= 1


def _pauses() -> Iterator[float]:
    """Pauses between attempts to reach the state store: 0.5 s doubling up to 5 s."""
    pause = 0.5
    while True:
        yield pause
        pause = min(pause * 2, 5.0)
