"""This process as an owner of work in the store: registration, heartbeat, and dead owners.

Every open message and journaled Turn names its owner, an ``Instance`` (design.md §4).
``Membership`` is the running process's instance, as an async context manager: on
enter it records the instance with a lease of ``lease`` seconds, a heartbeat renews the
lease every third of it while the process runs, and a clean exit deletes the record.
What the instance owns is then left to nobody, and the next start-up recovers it.

**Who is gone.** An instance is gone when its lease lapsed (it stopped beating, on any
host), or, on this same host, when its pid is not running: a restart after kill -9
then recovers at once instead of waiting a whole lease. A record with this process's
own pid but another id is gone too: in a container, a restarted process often gets the
pid its killed predecessor had (pid 1). ``sweep`` deletes the records of gone
instances so their work becomes ownerless.

**Exclusive roles.** With a store that is not ``shared`` (SQLite), only one
``bridge serve`` may run: entering with ``exclusive`` raises ``Occupied`` naming the
live holder, after sweeping gone ones (so a killed predecessor does not block).

**An unreachable store.** A heartbeat that fails is tried again every second (not every
third of the lease) and ``store_error`` says why, for ``/healthz``. While the store was
away nobody could renew a lease, so every other instance may look gone the moment it
is back: ``settled`` stays False until a whole lease has passed since the last failed
beat, and takeover waits for it, giving the others the time to renew.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace

import anyio

from bridge.errors import StateError
from bridge.state.base import Store
from bridge.state.records import Instance, Role, StoreCounts

__all__ = ["Membership", "Occupied", "pid_alive"]

log = logging.getLogger(__name__)


class Occupied(Exception):
    """Another live instance of an exclusive role holds the store."""

    def __init__(self, holder: Instance) -> None:
        self.holder = holder
        super().__init__(f"{holder.role} instance pid {holder.pid} on {holder.host}")


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


class Membership:
    """The running process as an ``Instance`` of ``store``; ``async with`` it."""

    def __init__(
        self,
        store: Store,
        *,
        role: Role,
        lease: float,
        clock: Callable[[], float],
        exclusive: bool = False,
        host: str | None = None,
        pid: int | None = None,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self._store = store
        self._lease = lease
        self._clock = clock
        self._exclusive = exclusive
        self._alive = alive
        now = clock()
        self.instance = Instance(
            id=uuid.uuid4().hex,
            role=role,
            pid=os.getpid() if pid is None else pid,
            host=socket.gethostname() if host is None else host,
            started_at=now,
            lease_until=now + lease,
        )
        # The store's sizes as of the last heartbeat, for /healthz (which cannot await).
        self.counts: StoreCounts | None = None
        # Why the last heartbeat could not reach the store; None when it could.
        self.store_error: str | None = None
        self._failed_at: float | None = None  # when a heartbeat last failed
        self._stack = AsyncExitStack()

    @property
    def id(self) -> str:
        """The instance id: the ``owner`` of what this process journals."""
        return self.instance.id

    async def __aenter__(self) -> Membership:
        await self.sweep()
        now = self._clock()
        self.instance = replace(self.instance, lease_until=now + self._lease)
        holder = await self._store.register(self.instance, now=now, exclusive=self._exclusive)
        if holder is not None:
            raise Occupied(holder)
        self._stack.push_async_callback(self._leave)
        tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._stack.callback(tg.cancel_scope.cancel)  # runs first: stop beating, then leave
        tg.start_soon(self._heartbeat)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    def settled(self) -> bool:
        """False within a lease of a failed heartbeat: others may not have renewed yet."""
        return self._failed_at is None or self._clock() >= self._failed_at + self._lease

    def gone(self, other: Instance, now: float) -> bool:
        """True when ``other`` cannot be running any more (see the module docstring)."""
        if other.id == self.instance.id:
            return False
        if not other.live(now):
            return True
        if other.host != self.instance.host:
            return False  # another host: only its lease can tell
        return other.pid == self.instance.pid or not self._alive(other.pid)

    async def sweep(self) -> list[Instance]:
        """Delete the records of gone instances; returns them. Their work is ownerless now."""
        now = self._clock()
        gone = [other for other in await self._store.instances() if self.gone(other, now)]
        for other in gone:
            await self._store.unregister(other.id)
            log.info(
                "instance %s (%s, pid %d on %s) is gone; its work is ownerless",
                other.id,
                other.role,
                other.pid,
                other.host,
            )
        return gone

    async def beat(self) -> None:
        """Renew the lease now, and read the store's counts."""
        lease_until = self._clock() + self._lease
        if not await self._store.renew(self.instance.id, lease_until=lease_until):
            # Someone judged this process gone (it stood still longer than its lease) and
            # may be recovering its work: say so loudly, and stand up again.
            log.error(
                "instance record %s was removed while running; registering again",
                self.instance.id,
            )
            self.instance = replace(self.instance, lease_until=lease_until)
            await self._store.register(self.instance, now=self._clock(), exclusive=False)
        self.counts = await self._store.counts()

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.beat()
            except StateError as exc:
                # The store is unreachable for a moment: try again soon; the lease has
                # two more beats of slack before anyone may judge this process gone.
                if self.store_error is None:
                    log.warning("heartbeat failed: %s", exc)
                self.store_error = exc.message
                self._failed_at = self._clock()
                await anyio.sleep(min(1.0, self._lease / 3))
                continue
            if self.store_error is not None:
                log.warning("the state store answers again")
            self.store_error = None
            await anyio.sleep(self._lease / 3)

    async def _leave(self) -> None:
        with anyio.move_on_after(5, shield=True):
            try:
                await self._store.unregister(self.instance.id)
            except StateError as exc:
                log.warning("could not remove instance record %s: %s", self.instance.id, exc)
