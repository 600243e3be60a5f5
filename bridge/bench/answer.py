"""The bridge side of one phase: answer every reply through the production relay, measured.

A *phase* is one strategy at one concurrency level. The runner (in the parent process)
prepares the emulated world and hands a ``PhaseOrder`` to a fresh child process
(``phase_process``), which calls ``answer_phase`` and sends back a ``PhaseReport``. So
no phase inherits another's heap, imports or connections, and the CPU and memory
figures are those of a process that did nothing but this phase:

1. build the bridge side as production does (an ``httpx2.AsyncClient`` for DingTalk
   and one for the model, with its pool limits; a ``RateBudget``, a ``DingTalkClient``,
   an ``LLMSource`` on the openai client, the ``ai_reply`` surface) and get the access
   token; a strategy that keeps to no budget gets ``NoBudget`` (no client-side budget at
   all: each refused call waits out its own rate limit; DingTalk's limit still holds).
   One of several instances (``bridge bench --instances``) keeps to the ``SharedBudget``
   on the run's Redis (``state``), with the phase's other instances, as ``bridge serve``
   does;
2. warm up: one unmeasured short reply, so lazy imports and first-use set-up stay out of
   the figures; the resident set after it is the phase's memory baseline; then wait out
   the emulator's one-second QPS window, so the warm-up's calls do not count against the
   phase; one of several instances then says it is ready and waits for the word to go
   (``ready``), so that all of them start measuring together;
3. answer every reply with ``concurrency`` workers: each takes the next reply, has the
   user say its prompt (``control.inbound``, which hands out the conversation token)
   and runs the production ``relay`` with the strategy's pacer; the budget share is
   computed as the pipeline does (the budget's per-call interval, read live, × replies
   streaming now).

CPU time (user + system, all threads) and the resident-set peak (sampled every 100 ms)
are taken around step 3, for this process only: DingTalk's emulator and the model's
run in two other children. The memory figure per conversation is (peak − baseline) ÷
concurrency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext

import anyio
import httpx2
from pydantic import BaseModel, ConfigDict

from bridge.bench.nobudget import NoBudget
from bridge.bench.resources import RssSampler, cpu_seconds, rss_bytes
from bridge.bench.strategies import Strategy, strategy
from bridge.bench.timed_surface import TimedSurface
from bridge.config import DingTalkConfig, LLMConfig, PacingConfig
from bridge.delivery.ai import AiReplySurface, AiTemplate
from bridge.delivery.relay import pacing_options, relay
from bridge.dingtalk.budget import Budget, RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.shared_budget import shared_budget
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client
from bridge.llm.transport import ShardedTransport, model_http_client, shards_for

__all__ = ["PhaseOrder", "PhaseReport", "ReplyOrder", "SentRecord", "answer_phase"]

MODEL = "emulator-model"
#: The client-side budget of a strategy that keeps to none (DingTalk's limit still holds).
UNBUDGETED_QPS = 1_000_000.0
#: The emulator's QPS window; waited out after the warm-up.
QPS_WINDOW = 1.0
#: The AI card template the replies stream into; the runner creates it in the emulator.
BENCH_TEMPLATE = AiTemplate("bench-markdown.schema", "content")


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReplyOrder(_Message):
    """One reply to answer: the user's prompt in its own conversation."""

    id: str
    conversation_id: str
    prompt: str


class PhaseOrder(_Message):
    """Everything the phase child needs: where the emulator is, what to run, how."""

    base_url: str  # the emulator serving as DingTalk
    model_url: str  # the emulator serving as the model
    strategy: str
    concurrency: int
    qps: int
    pacing: PacingConfig
    user: str
    warm_up: ReplyOrder
    replies: tuple[ReplyOrder, ...]
    log_level: int
    #: One of several instances: the Redis of their shared budget, and its key prefix.
    state: str | None = None
    state_prefix: str = "bench:"
    #: Wait for the runner's word after the warm-up (several instances start together).
    barrier: bool = False


class SentRecord(_Message):
    """A reply the phase asked for: its conversation token and when the user spoke."""

    reply_id: str
    conversation_id: str
    token: str
    user_at: float


class PhaseReport(_Message):
    """What the phase did and spent (the emulator holds the rest of the record)."""

    sent: tuple[SentRecord, ...]
    call_seconds: tuple[float, ...]  # each DingTalk call as the bridge saw it
    wall_seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    baseline_rss_bytes: int


class _Answerer:
    """The bridge side of one phase, built once, answering reply after reply."""

    def __init__(
        self,
        order: PhaseOrder,
        chosen: Strategy,
        control: EmulatorControl,
        client: DingTalkClient,
        source: LLMSource,
        budget: Budget,
    ) -> None:
        self._order = order
        self._strategy = chosen
        self._control = control
        self._client = client
        self._source = source
        self._template = BENCH_TEMPLATE
        self._budget = budget
        self.live = 0
        self.sent: list[SentRecord] = []
        self.call_seconds: list[float] = []

    def _budget_share(self) -> float:
        # Read live: a shared budget's share changes with the instances calling.
        return self._budget.interval(DEFAULT_APP, Operation.AI_REPLY) * max(1, self.live)

    async def answer(self, reply: ReplyOrder) -> None:
        """Have the user ask, and relay the model's answer as production does."""
        inbound = await self._control.inbound(self._order.user, reply.conversation_id, reply.prompt)
        token = inbound.action["conversationToken"]
        surface = TimedSurface(
            AiReplySurface(self._client, token, self._template), self.call_seconds
        )
        self.sent.append(
            SentRecord(
                reply_id=reply.id,
                conversation_id=reply.conversation_id,
                token=token,
                user_at=inbound.message.created_at,
            )
        )
        pacing = self._order.pacing
        self.live += 1
        try:
            await relay(
                self._source.stream([ChatMessage.user(reply.prompt)]),
                [surface],
                pacing,
                budget_interval=self._budget_share,
                pacer=self._strategy.make(pacing_options(pacing)),
            )
        finally:
            self.live -= 1

    def forget(self) -> None:
        """Drop what the warm-up recorded."""
        self.sent.clear()
        self.call_seconds.clear()


async def _no_wait() -> None:
    pass


def _budget(
    order: PhaseOrder, chosen: Strategy, dingtalk: DingTalkConfig
) -> AbstractAsyncContextManager[Budget]:
    if not chosen.shares_budget:
        return nullcontext(NoBudget())
    if order.state is None:
        return nullcontext(RateBudget(dingtalk.qps_per_api))
    return shared_budget(
        order.state,
        prefix=order.state_prefix,
        qps=dingtalk.qps_per_api,
        call_timeout=dingtalk.timeout,
    )


async def answer_phase(
    order: PhaseOrder,
    progress: Callable[[int], None],
    ready: Callable[[], Awaitable[None]] = _no_wait,
) -> PhaseReport:
    """Steps 1–3 of the module docstring; ``progress(done)`` after each measured reply,
    ``ready()`` awaited between the warm-up and the measured replies."""
    chosen = strategy(order.strategy)
    base = order.base_url
    dingtalk = DingTalkConfig(api_base=base, oapi_base=base, qps_per_api=order.qps)
    llm = LLMConfig(base_url=f"{order.model_url}/v1", model=MODEL)
    connections = 2 * order.concurrency + 100
    # As bridge serve's (``bridge.app``): idle connections past 64 are closed. Keeping a
    # thousand idle would cost each request a pass over all of them in the pool (a
    # socket probe each), CPU this process's replies would lose.
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=64)
    # The control client has its own pool, so the user's messages never queue behind
    # the bridge's calls (and the reverse); sharded as the model's is, because a
    # thousand users speak at once (``bridge.llm.transport``).
    control_timeout = httpx2.Timeout(60.0, pool=None)
    control_transport = ShardedTransport(limits, shards_for(limits))
    async with (
        httpx2.AsyncClient(timeout=dingtalk.timeout, limits=limits) as http,
        model_http_client(limits) as model_http,
        httpx2.AsyncClient(timeout=control_timeout, transport=control_transport) as control_http,
        _budget(order, chosen, dingtalk) as budget,
    ):
        client = DingTalkClient(
            http, dingtalk, client_id=DEFAULT_APP, client_secret=DEFAULT_SECRET, budget=budget
        )
        source = LLMSource(create_openai_client(llm, {}, model_http), llm)
        answerer = _Answerer(
            order, chosen, EmulatorControl(control_http, base), client, source, budget
        )
        await client.tokens.get()
        await answerer.answer(order.warm_up)
        answerer.forget()
        baseline = rss_bytes()
        await anyio.sleep(QPS_WINDOW)
        await ready()

        queue = deque(order.replies)
        done = 0

        async def worker() -> None:
            nonlocal done
            while queue:
                await answerer.answer(queue.popleft())
                done += 1
                progress(done)

        sampler = RssSampler()
        cpu_before = cpu_seconds()
        started = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sampler.run)
            async with anyio.create_task_group() as workers:
                for _ in range(min(order.concurrency, len(order.replies))):
                    workers.start_soon(worker)
            tg.cancel_scope.cancel()
        wall = anyio.current_time() - started
        cpu = cpu_seconds() - cpu_before
        sampler.sample()
    return PhaseReport(
        sent=tuple(answerer.sent),
        call_seconds=tuple(answerer.call_seconds),
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_bytes=sampler.peak,
        baseline_rss_bytes=baseline,
    )
