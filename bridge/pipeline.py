"""The pipeline: accepted Turns in, answers out (design.md §2, middle column).

For each Turn, in this order:

1. **dedup**: its delivery ids (frame id, ``msgId``, action token) are claimed in the
   store; a redelivery is dropped here, so it never produces a second answer;
2. **one reply at a time per conversation**: Turns of one conversation queue in arrival
   order (never dropped); different conversations run in parallel, up to a global limit;
3. **prompt**: the assistant's system prompt for the conversation type, the remembered
   history (per conversation, or per sender in groups), the user's text, trimmed oldest
   first to the model's token budget;
4. **answer**: the model's stream goes through the relay to the surfaces the router
   offers (journaled, so a crash cannot leave a message open);
5. **remember**: a complete answer becomes history for the next turn.

``accept`` decides about a Turn (accepted, duplicate, closed: ``bridge.admission``)
without any model work: inbound doors await it before they ACK.
``answer`` runs one Turn to the end and returns the relay's result (``bridge send``,
the push API). Shutdown: ``stop_intake`` refuses new Turns, ``drain`` waits for the
queued and running ones up to a grace period, and leaving the ``async with`` block
cancels the rest, whose relays still close their messages (shielded, bounded).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from bridge.admission import ACCEPTED, Admission, Outcome
from bridge.config import AssistantConfig, MemoryConfig
from bridge.conversation.prompts import PromptContext, PromptSet
from bridge.conversation.store import Exchange, Store
from bridge.core.events import LLMEvent
from bridge.delivery.journal import JournaledSurface
from bridge.delivery.relay import RelayResult, relay
from bridge.delivery.router import SurfaceHealth, candidates
from bridge.delivery.surface import Surface
from bridge.errors import (
    InboundError,
    PlatformError,
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRejected,
)
from bridge.llm.messages import ChatMessage
from bridge.logcontext import install as install_log_context
from bridge.logcontext import reply_context
from bridge.turn import ConversationType, Turn

log = logging.getLogger(__name__)


def surface_is_broken(error: Exception) -> bool:
    """True when ``error`` says the surface cannot work for this app for a while.

    "Permission denied" (a scope not granted, "ai assistant not found"), "not supported"
    (a content type the API refuses) and the org's spent quota are properties of the app,
    not of one message; an expired webhook, a rate limit or a 500 are not.
    """
    if isinstance(error, PlatformPermissionDenied | PlatformQuotaExceeded):
        return True
    return isinstance(error, PlatformRejected) and error.code == "invalid.content.type"


class AnswerSource(Protocol):
    """Where answers come from: ``bridge.llm.source.LLMSource`` in production."""

    def stream(
        self, messages: Sequence[ChatMessage]
    ) -> AbstractAsyncContextManager[AsyncIterator[LLMEvent]]: ...


Trim = Callable[[ChatMessage, list[ChatMessage], ChatMessage, int], list[ChatMessage]]
BuildSurface = Callable[[Turn, str], Surface]


@dataclass(frozen=True)
class AssistantRuntime:
    """Everything the pipeline needs to answer for one assistant."""

    config: AssistantConfig
    prompts: PromptSet
    source: AnswerSource
    trim: Trim
    build_surface: BuildSurface
    # The interval the shared rate budget allows each of ``n`` live messages.
    budget_interval: Callable[[int], float] = lambda live: 0.0


@dataclass
class PipelineStats:
    """Counters for /healthz, logs and tests."""

    accepted: int = 0
    duplicates: int = 0
    answered: int = 0
    failed: int = 0
    unanswerable: int = 0
    running: int = 0
    queued: int = 0


@dataclass
class _Lane:
    """The queue of one conversation; a worker drains it, one Turn at a time."""

    turns: deque[Turn] = field(default_factory=deque)


class Pipeline:
    """Runs Turns to answers; use as ``async with Pipeline(...) as pipeline``."""

    def __init__(
        self,
        runtimes: Mapping[str, AssistantRuntime],
        store: Store,
        memory: MemoryConfig,
        *,
        max_concurrent: int,
        health: SurfaceHealth | None = None,
        clock: Callable[[], float],
        today: Callable[[], datetime] = datetime.now,
    ) -> None:
        self._runtimes = runtimes
        self._store = store
        self._memory = memory
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        self._health = health or SurfaceHealth()
        self._clock = clock
        self._today = today
        self._lanes: dict[str, _Lane] = {}
        self._admitting = 0  # Turns between accept and the end of their lane's work
        self._live: dict[str, int] = {}  # replies streaming now, per assistant
        self._accepting = False
        self._idle = anyio.Event()
        self._idle.set()
        self._tg: TaskGroup | None = None
        self._stack = AsyncExitStack()
        self.stats = PipelineStats()
        install_log_context()

    async def __aenter__(self) -> Pipeline:
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._accepting = True
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        # Leaving cancels what still runs; each relay closes its message on the way out.
        self._accepting = False
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
        return await self._stack.__aexit__(*exc_info)

    # ------------------------------------------------------------------ intake

    async def accept(self, turn: Turn) -> Admission:
        """Take ``turn`` for answering, or say why not; returns before any model work.

        A redelivery (any of its delivery ids seen within ``dedup_ttl``) is a duplicate;
        once intake has stopped every Turn is refused as closed.
        """
        if not self._accepting or self._tg is None:
            return Admission(Outcome.CLOSED, "bridge is shutting down")
        if turn.assistant not in self._runtimes:
            raise InboundError(f"no assistant named {turn.assistant!r}", status=404)
        if turn.delivery_ids and not await self._store.claim(
            list(turn.delivery_ids), now=self._clock(), ttl=self._memory.dedup_ttl
        ):
            self.stats.duplicates += 1
            log.info("duplicate delivery %s dropped", ",".join(turn.delivery_ids))
            return Admission(Outcome.DUPLICATE, "already accepted")
        if not self._accepting or self._tg is None:  # stopped while the claim ran
            return Admission(Outcome.CLOSED, "bridge is shutting down")
        self.stats.accepted += 1
        if self._idle.is_set():
            self._idle = anyio.Event()
        self._admitting += 1
        self._tg.start_soon(self._admit, turn)
        return ACCEPTED

    def stop_intake(self) -> None:
        """Refuse new Turns from now on (SIGTERM); queued ones are still answered."""
        self._accepting = False

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for queued and running Turns; True if all ended."""
        with anyio.move_on_after(grace):
            await self._idle.wait()
            return True
        return False

    async def _admit(self, turn: Turn) -> None:
        try:
            key = f"{turn.assistant}/{turn.conversation_key}"
            lane = self._lanes.get(key)
            if lane is not None:
                lane.turns.append(turn)  # its worker will get to it, in order
                self.stats.queued += 1
                return
            lane = self._lanes[key] = _Lane(deque([turn]))
            await self._work(key, lane)
        finally:
            self._admitting -= 1
            if self._admitting == 0 and not self._lanes:
                self._idle.set()

    async def _work(self, key: str, lane: _Lane) -> None:
        try:
            await self._answer_logged(lane.turns.popleft())
            while lane.turns:
                self.stats.queued -= 1
                await self._answer_logged(lane.turns.popleft())
        finally:
            del self._lanes[key]

    # ------------------------------------------------------------------ answering

    async def _answer_logged(self, turn: Turn) -> None:
        try:
            await self.answer(turn)
        except PlatformError as exc:
            # One conversation's failure stays in its lane; the others go on.
            log.error("answer for %s failed: %s", turn.conversation_key, exc)

    async def answer(self, turn: Turn) -> RelayResult | None:
        """Answer one Turn now (no dedup, no queue); None when no surface can reach it.

        Every log line written while it runs carries the Turn's ids (``bridge.logcontext``).
        """
        with reply_context(turn.assistant, turn.conversation_key):
            return await self._answer(turn)

    async def _answer(self, turn: Turn) -> RelayResult | None:
        runtime = self._runtimes[turn.assistant]
        now = self._clock()
        names = candidates(turn, runtime.config.delivery.prefer, self._health, now=now)
        if not names:
            self.stats.unanswerable += 1
            log.error(
                "no surface can answer %s in %s (%s): check [delivery] prefer and the handles",
                turn.source,
                turn.conversation_key,
                turn.conversation_type,
            )
            return None
        surfaces = [
            JournaledSurface(
                runtime.build_surface(turn, name),
                self._store,
                assistant=turn.assistant,
                clock=self._clock,
            )
            for name in names
        ]
        name = turn.assistant
        memory_key = self._memory_key(turn)
        async with self._limiter:
            self.stats.running += 1
            self._live[name] = self._live.get(name, 0) + 1
            try:
                messages = await self._prompt(runtime, turn, memory_key)
                result = await relay(
                    runtime.source.stream(messages),
                    surfaces,
                    runtime.config.pacing,
                    budget_interval=lambda: runtime.budget_interval(self._live.get(name, 1)),
                    on_surface_error=lambda s, e: self._surface_failed(turn, s, e),
                    deadline=runtime.config.delivery.deadline,
                )
            finally:
                self.stats.running -= 1
                self._live[name] -= 1
        calls = result.opens + result.updates + result.closes + result.send_once
        log.info(
            "reply %s on %s after %d calls",
            "delivered" if result.ok else "failed",
            result.surface or "no surface",
            calls,
        )
        if result.ok:
            self.stats.answered += 1
            await self._store.remember(
                memory_key,
                Exchange(user=turn.text, assistant=result.text, at=self._clock()),
                limit=self._memory.turns,
            )
        else:
            self.stats.failed += 1
        return result

    def _surface_failed(self, turn: Turn, surface: Surface, error: Exception) -> None:
        runtime = self._runtimes[turn.assistant]
        if not surface_is_broken(error):
            return  # transient or specific to this message: the surface stays up
        log.warning(
            "surface %s of %s marked down for %.0fs: %s",
            surface.name,
            turn.assistant,
            runtime.config.delivery.down_for,
            error,
        )
        self._health.mark_down(
            turn.assistant,
            surface.name,
            now=self._clock(),
            down_for=runtime.config.delivery.down_for,
        )

    async def _prompt(
        self, runtime: AssistantRuntime, turn: Turn, memory_key: str
    ) -> list[ChatMessage]:
        context = PromptContext(
            assistant_name=runtime.config.name,
            sender_name=turn.sender.nick or "用户",
            conversation_title=turn.conversation_title,
            conversation_type=turn.conversation_type.value,
            date=self._today().date(),
        )
        system = ChatMessage.system(runtime.prompts.render(context))
        exchanges = await self._store.history(
            memory_key,
            now=self._clock(),
            ttl=self._memory.ttl,
            limit=self._memory.turns,
        )
        history: list[ChatMessage] = []
        for exchange in exchanges:
            history += [ChatMessage.user(exchange.user), ChatMessage.assistant(exchange.assistant)]
        llm = runtime.config.llm
        budget = llm.context_tokens - llm.max_output_tokens
        return runtime.trim(system, history, ChatMessage.user(turn.text), budget)

    def _memory_key(self, turn: Turn) -> str:
        key = f"{turn.assistant}/{turn.conversation_key}"
        if turn.conversation_type is ConversationType.GROUP and self._memory.per_sender_in_groups:
            sender = turn.sender.staff_id or turn.sender.union_id or turn.sender.nick
            key += f"/{sender}"
        return key
