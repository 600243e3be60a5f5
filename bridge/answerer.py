"""The answerer: one Turn to one answer, now (design.md §2, middle column, steps 3 to 5).

``Answerer.answer(turn)`` does, for one Turn, with no queue and no dedup (the pipeline
does those):

1. **route**: the surfaces the router offers for the Turn (preference, handles, health);
2. **prompt**: the assistant's system prompt for the conversation type, the remembered
   history (per conversation, or per sender in groups), the user's message (its text;
   with its pictures fetched now for a model that sees, ``bridge.conversation.media``),
   trimmed oldest first to the model's token budget;
3. **answer**: the model's stream goes through the relay to those surfaces, each
   journaled (``bridge.delivery.journal``) under this process's owner id, so a crash
   cannot leave a message open. A prompt the endpoint refuses as too long before any
   text is asked once more with the oldest half of its history dropped
   (``bridge.llm.fit``; ``AssistantRuntime.shorten``);
4. **remember**: a complete answer becomes history for the next turn.

An unreachable state store does not stop an answer: without history it is answered
without history, and an answer that cannot be remembered is still delivered.

Each reply is watched for the metrics (``bridge.observe.watch``: first visible text, lag,
open messages, outcome) through ``observer``, from outside the relay.

At most ``max_concurrent`` answers run at once across every conversation; a Turn waits
for a slot before its prompt is built. ``Answerer.tell(turn, text)`` sends a short notice
once, through the first surface that takes it (the "answer was lost" notice of replay).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import anyio

from bridge.config import AssistantConfig, MemoryConfig
from bridge.conversation.media import ReadUser, noticed, text_only
from bridge.conversation.prompts import PromptContext, PromptSet
from bridge.core.events import LLMEvent
from bridge.delivery.journal import JournaledSurface, Leftovers
from bridge.delivery.relay import RelayResult, relay
from bridge.delivery.router import SurfaceHealth, candidates
from bridge.delivery.surface import Surface
from bridge.errors import (
    PlatformError,
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRejected,
    StateError,
)
from bridge.llm.fit import Shorten, fitted_stream
from bridge.llm.messages import ChatMessage
from bridge.logcontext import reply_context
from bridge.observe.hooks import UNOBSERVED, AnswerObserver
from bridge.observe.watch import ReplyWatch
from bridge.state import Exchange, Store
from bridge.stops import RunningReply, StoppableSurface
from bridge.turn import ConversationType, Turn

__all__ = [
    "AnswerSource",
    "AnswerStats",
    "Answerer",
    "AssistantRuntime",
    "BuildSurface",
    "Trim",
    "surface_is_broken",
]

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
    """Everything the answerer needs to answer for one assistant."""

    config: AssistantConfig
    prompts: PromptSet
    source: AnswerSource
    trim: Trim
    build_surface: BuildSurface
    # The interval the shared rate budget allows each of ``n`` live messages.
    budget_interval: Callable[[int], float] = lambda live: 0.0
    # A shorter prompt after a too-long refusal (``tokens.halve_history``); None: no retry.
    shorten: Shorten | None = None
    # The user's message for the model, and a notice in front of the answer (pictures).
    read_user: ReadUser = text_only


@dataclass
class AnswerStats:
    """Counters of answers, for /healthz, logs and tests."""

    answered: int = 0
    failed: int = 0
    unanswerable: int = 0
    running: int = 0


class Answerer:
    """Answers Turns on the assistants' surfaces, at most ``max_concurrent`` at once."""

    def __init__(
        self,
        runtimes: Mapping[str, AssistantRuntime],
        store: Store,
        memory: MemoryConfig,
        *,
        max_concurrent: int,
        stats: AnswerStats,
        owner: str = "",
        health: SurfaceHealth | None = None,
        clock: Callable[[], float],
        today: Callable[[], datetime] = datetime.now,
        observer: AnswerObserver = UNOBSERVED,
    ) -> None:
        self._runtimes = runtimes
        self._store = store
        self._memory = memory
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        self._stats = stats
        self._owner = owner
        self._health = health or SurfaceHealth()
        self._clock = clock
        self._today = today
        self._observer = observer
        self._live: dict[str, int] = {}  # replies streaming now, per assistant
        # Closed messages whose records the store could not delete yet (it was away).
        self.leftovers = Leftovers()

    def knows(self, assistant: str) -> bool:
        """True when ``assistant`` is configured here."""
        return assistant in self._runtimes

    async def answer(
        self,
        turn: Turn,
        *,
        started: Callable[[], None] = lambda: None,
        stop: RunningReply | None = None,
    ) -> RelayResult | None:
        """Answer ``turn`` now; None when no surface can reach it.

        ``started`` is called once the Turn has a slot (it stops waiting, starts running).
        Every log line written meanwhile carries the Turn's ids (``bridge.logcontext``).
        """
        with reply_context(turn.assistant, turn.conversation_key):
            return await self._answer(turn, started, stop)

    async def tell(self, turn: Turn, text: str) -> str | None:
        """Send ``text`` once as a finished message; the surface that took it, or None."""
        runtime = self._runtimes[turn.assistant]
        with reply_context(turn.assistant, turn.conversation_key):
            now = self._clock()
            for name in candidates(turn, runtime.config.delivery.prefer, self._health, now=now):
                surface = runtime.build_surface(turn, name)
                with anyio.move_on_after(runtime.config.pacing.close_timeout) as scope:
                    try:
                        await surface.send_once(text)
                    except PlatformError as exc:
                        log.warning("notice not sent on %s: %s", name, exc)
                        self._surface_failed(turn, surface, exc)
                        continue
                if scope.cancelled_caught:
                    log.warning("notice not sent on %s: timed out", name)
                    continue
                return name
            log.error("no surface could take the notice for %s", turn.conversation_key)
            return None

    async def _answer(
        self, turn: Turn, started: Callable[[], None], stop: RunningReply | None
    ) -> RelayResult | None:
        runtime = self._runtimes[turn.assistant]
        now = self._clock()
        names = candidates(turn, runtime.config.delivery.prefer, self._health, now=now)
        watch = ReplyWatch(self._observer.reply(turn.assistant))
        if not names:
            self._stats.unanswerable += 1
            watch.ended(None)
            log.error(
                "no surface can answer %s in %s (%s): check [delivery] prefer and the handles",
                turn.source,
                turn.conversation_key,
                turn.conversation_type,
            )
            return None
        surfaces = [
            watch.surface(
                JournaledSurface(
                    runtime.build_surface(turn, name),
                    self._store,
                    assistant=turn.assistant,
                    clock=self._clock,
                    owner=self._owner,
                    leftovers=self.leftovers,
                )
            )
            for name in names
        ]
        if stop is not None:  # its opened messages become its targets: card, token
            surfaces = [StoppableSurface(s, stop) for s in surfaces]
        name = turn.assistant
        memory_key = self.memory_key(turn)
        async with self._limiter:
            started()
            self._stats.running += 1
            self._live[name] = self._live.get(name, 0) + 1
            try:
                watch.began(self._clock() - turn.received_at)
                user = await runtime.read_user(turn)
                messages = await self._prompt(runtime, turn, memory_key, user.message)
                stream = self._stream(runtime, messages)
                result = await relay(
                    watch.events(noticed(user.notice, stream) if user.notice else stream),
                    surfaces,
                    runtime.config.pacing,
                    budget_interval=lambda: runtime.budget_interval(self._live.get(name, 1)),
                    on_surface_error=lambda s, e: self._surface_failed(turn, s, e),
                    deadline=runtime.config.delivery.deadline,
                    notices=runtime.config.notices,
                    stop=stop,
                )
            except BaseException as exc:
                watch.broke(exc)
                raise
            finally:
                self._stats.running -= 1
                self._live[name] -= 1
        watch.ended(result)
        calls = result.opens + result.updates + result.closes + result.send_once
        log.info(
            "reply %s (%s) on %s after %d calls",
            "delivered" if result.ok else "failed",
            result.cause or result.ending,
            result.surface or "no surface",
            calls,
        )
        if result.ok:
            self._stats.answered += 1
            # Kept as shown, its mark included: a cut or stopped answer says so to the
            # model next time. A stop before anything was shown leaves no exchange.
            await self._remember(memory_key, turn, result)
        else:
            self._stats.failed += 1
        return result

    async def _remember(self, memory_key: str, turn: Turn, result: RelayResult) -> None:
        if result.surface is not None:
            now = self._clock()
            try:
                await self._store.remember(
                    memory_key,
                    Exchange(user=turn.text, assistant=result.text, at=now),
                    limit=self._memory.turns,
                    now=now,
                    ttl=self._memory.ttl,
                )
            except StateError as exc:  # the store is away: the answer stands, unremembered
                log.warning("history not saved: %s", exc)

    @staticmethod
    def _stream(
        runtime: AssistantRuntime, messages: list[ChatMessage]
    ) -> AbstractAsyncContextManager[AsyncIterator[LLMEvent]]:
        """The model's answer to ``messages``, asked once more shorter if refused as too long."""
        if runtime.shorten is None:
            return runtime.source.stream(messages)
        return fitted_stream(runtime.source.stream, messages, runtime.shorten)

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
        self, runtime: AssistantRuntime, turn: Turn, memory_key: str, user: ChatMessage
    ) -> list[ChatMessage]:
        context = PromptContext(
            assistant_name=runtime.config.name,
            sender_name=turn.sender.nick or "用户",
            conversation_title=turn.conversation_title,
            conversation_type=turn.conversation_type.value,
            date=self._today().date(),
        )
        system = ChatMessage.system(runtime.prompts.render(context))
        try:
            exchanges = await self._store.history(
                memory_key,
                now=self._clock(),
                ttl=self._memory.ttl,
                limit=self._memory.turns,
            )
        except StateError as exc:  # the store is away: answer without the history
            log.warning("history unavailable, answering without it: %s", exc)
            exchanges = []
        history: list[ChatMessage] = []
        for exchange in exchanges:
            history += [ChatMessage.user(exchange.user), ChatMessage.assistant(exchange.assistant)]
        llm = runtime.config.llm
        budget = llm.context_tokens - llm.max_output_tokens
        return runtime.trim(system, history, user, budget)

    def memory_key(self, turn: Turn) -> str:
        """Where ``turn``'s history lives: the conversation, or its sender in a group."""
        key = f"{turn.assistant}/{turn.conversation_key}"
        if turn.conversation_type is ConversationType.GROUP and self._memory.per_sender_in_groups:
            sender = turn.sender.staff_id or turn.sender.union_id or turn.sender.nick
            key += f"/{sender}"
        return key
