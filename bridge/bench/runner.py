"""Runs the benchmark: every strategy, at every concurrency, against the emulator child.

``run_bench(settings, progress)`` starts the emulator in a child process and, for each
concurrency level, defines the level's scripts in the simulated model's library; then
for each strategy it runs one *phase*:

1. reset the emulated world (messages, tokens, call log, QPS windows) and set the QPS
   limit; clear the model's record; open one conversation per reply;
2. build the bridge side as production does (one ``httpx2.AsyncClient``, a
   ``RateBudget``, a ``DingTalkClient``, an ``LLMSource`` on the openai client, the
   ``ai_reply`` surface) and warm the access token; a strategy that keeps to no budget
   gets a budget too large to ever wait;
3. answer every reply with ``concurrency`` workers: each takes the next reply, has the
   user say its prompt (``control.inbound``, which hands out the conversation token)
   and runs the production ``relay`` with the strategy's pacer; the budget share is
   computed as the pipeline does (per-call interval × replies streaming now);
4. read back the emulator's records and reduce them with ``collect`` and ``metrics``.

The CPU time and the resident-memory peak of this process are taken around step 3.
One unmeasured reply runs first, so lazy imports and first-use set-up stay out of the
figures; the resident set after it is the baseline of every phase's memory figure.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import anyio
import httpx2

from bridge.bench.collect import Sent, calls_by_token, observations
from bridge.bench.emulator_process import spawned_emulator
from bridge.bench.metrics import ResourceUse, StrategyFigures, percentile, reply_figures, summarize
from bridge.bench.resources import RssSampler, cpu_seconds, raise_fd_limit, rss_bytes
from bridge.bench.scenario import Mix, ReplySpec, Scenario, build_replies
from bridge.bench.strategies import Strategy
from bridge.config import DeliveryConfig, DingTalkConfig, LLMConfig, PacingConfig
from bridge.delivery.ai import AiReplySurface, AiTemplate
from bridge.delivery.relay import pacing_options, relay
from bridge.delivery.surface import LiveMessage
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.model.script import ModelSpeed
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client

__all__ = ["BenchSettings", "Progress", "default_replies", "run_bench"]

USER = "alice"
MODEL = "emulator-model"
#: Control-API requests in flight at once while setting a phase up.
SETUP_PARALLEL = 16
#: The client-side budget of a strategy that keeps to none (DingTalk's limit still holds).
UNBUDGETED_QPS = 1_000_000.0

T = TypeVar("T")


def default_replies(concurrency: int) -> int:
    """Replies per phase when not given: two rounds when small, one round when large."""
    return concurrency if concurrency >= 100 else max(10, 2 * concurrency)


@dataclass(frozen=True)
class BenchSettings:
    """Everything one ``bridge bench`` run measures."""

    strategies: tuple[Strategy, ...]
    concurrency: tuple[int, ...]
    replies: int | None = None
    qps: int = 20
    speed: ModelSpeed = field(default_factory=ModelSpeed)
    mix: Mix = field(default_factory=Mix)
    pacing: PacingConfig = field(default_factory=PacingConfig)
    seed: int = 7
    peer_budget: bool = False  # peers keep to the shared rate budget too

    def scenario(self, concurrency: int) -> Scenario:
        """The scenario of one concurrency level."""
        replies = self.replies if self.replies is not None else default_replies(concurrency)
        return Scenario(
            replies=replies,
            concurrency=concurrency,
            qps=self.qps,
            speed=self.speed,
            mix=self.mix,
            seed=self.seed,
        )


@dataclass(frozen=True, slots=True)
class Progress:
    """Where the run stands: ``done`` of ``total`` replies of the current phase."""

    strategy: str
    concurrency: int
    phase: int
    phases: int
    done: int
    total: int


@dataclass
class _Phase:
    """The mutable bookkeeping of one phase."""

    live: int = 0
    done: int = 0
    sent: list[Sent] = field(default_factory=list)
    call_seconds: list[float] = field(default_factory=list)


class _TimedLive:
    """A live message that records how long each of its calls took, as the bridge saw it."""

    def __init__(self, live: LiveMessage, seconds: list[float]) -> None:
        self._live = live
        self._seconds = seconds

    async def update(self, text: str) -> None:
        started = anyio.current_time()
        await self._live.update(text)
        self._seconds.append(anyio.current_time() - started)

    async def close(self, text: str, *, ok: bool) -> None:
        started = anyio.current_time()
        await self._live.close(text, ok=ok)
        self._seconds.append(anyio.current_time() - started)


class _TimedReplySurface:
    """``ai_reply`` with its calls timed; the relay sees an ordinary surface."""

    name = "ai_reply"
    can_stream = True

    def __init__(self, surface: AiReplySurface, seconds: list[float]) -> None:
        self._surface = surface
        self._seconds = seconds

    async def open(self) -> LiveMessage:
        return _TimedLive(await self._surface.open(), self._seconds)

    async def send_once(self, text: str) -> None:
        started = anyio.current_time()
        await self._surface.send_once(text)
        self._seconds.append(anyio.current_time() - started)


async def _each(items: Iterable[T], action: Callable[[T], Awaitable[None]], limit: int) -> None:
    """Run ``action`` on every item, at most ``limit`` at a time."""
    limiter = anyio.CapacityLimiter(limit)

    async def one(item: T) -> None:
        async with limiter:
            await action(item)

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(one, item)


class _Bench:
    """One run: the control clients of the emulator child and the settings."""

    def __init__(
        self,
        settings: BenchSettings,
        base_url: str,
        http: httpx2.AsyncClient,
        progress: Callable[[Progress], None],
    ) -> None:
        self._settings = settings
        self._base_url = base_url
        self._control = EmulatorControl(http, base_url)
        self._model = self._control.model
        self._progress = progress
        self._phases = len(settings.concurrency) * len(settings.strategies)
        self._phase_index = 0
        self._baseline = rss_bytes()

    async def run(self) -> list[StrategyFigures]:
        await self._model.reset()
        await self._model.set_speed(self._settings.speed)
        await self._warm_up()
        rows = []
        for concurrency in self._settings.concurrency:
            scenario = self._settings.scenario(concurrency)
            specs = build_replies(scenario)
            await _each(
                specs, lambda s: self._model.define(s.script_name, s.script), SETUP_PARALLEL
            )
            for strategy in self._settings.strategies:
                self._phase_index += 1
                rows.append(await self._phase(strategy, scenario, specs))
        return rows

    async def _warm_up(self) -> None:
        """One unmeasured reply: lazy imports and first-use set-up stay out of the figures.

        The resident set after it is the baseline of every phase's memory figure.
        """
        scenario = self._settings.scenario(1)
        spec = build_replies(replace(scenario, replies=1, mix=Mix(long=0, reasoning=0, stall=0)))
        await self._model.define(spec[0].script_name, spec[0].script)
        progress, self._progress = self._progress, _ignore
        try:
            await self._phase(self._settings.strategies[0], scenario, spec)
        finally:
            self._progress = progress
        self._baseline = rss_bytes()

    async def _phase(
        self, strategy: Strategy, scenario: Scenario, specs: list[ReplySpec]
    ) -> StrategyFigures:
        control = self._control
        await control.reset()
        await control.set_qps(scenario.qps)
        await self._model.clear_emissions()

        async def converse(spec: ReplySpec) -> None:
            await control.create_conversation(
                "group", [USER], title=spec.id, conversation_id=_conversation(spec)
            )

        await _each(specs, converse, SETUP_PARALLEL)
        state = _Phase()
        use = await self._answer_all(strategy, scenario, specs, state)
        messages = await control.messages()
        emissions = await self._model.emissions()
        calls = calls_by_token(await control.calls(operations=[Operation.AI_REPLY]))
        found = observations(state.sent, messages, emissions, calls)
        use = replace(
            use,
            chunks=sum(len(e.chunks) for e in emissions),
            call_seconds_p50=percentile(state.call_seconds, 50),
        )
        figures = [reply_figures(o) for o in found]
        return summarize(strategy.name, scenario.concurrency, scenario.qps, figures, use)

    async def _answer_all(
        self, strategy: Strategy, scenario: Scenario, specs: list[ReplySpec], state: _Phase
    ) -> ResourceUse:
        """Step 3 of the module docstring; returns the wall, CPU and memory it took."""
        base = self._base_url
        pacing = self._settings.pacing
        dingtalk = DingTalkConfig(api_base=base, oapi_base=base, qps_per_api=scenario.qps)
        llm = LLMConfig(base_url=f"{base}/v1", model=MODEL)
        connections = 2 * scenario.concurrency + 100
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        delivery = DeliveryConfig()
        template = AiTemplate(delivery.ai_template_id, delivery.ai_template_key)
        async with httpx2.AsyncClient(timeout=dingtalk.timeout, limits=limits) as http:
            budgeted = strategy.shares_budget or self._settings.peer_budget
            budget = RateBudget(dingtalk.qps_per_api if budgeted else UNBUDGETED_QPS)
            client = DingTalkClient(
                http, dingtalk, client_id=DEFAULT_APP, client_secret=DEFAULT_SECRET, budget=budget
            )
            source = LLMSource(create_openai_client(llm, {}, http), llm)
            per_call = budget.interval(DEFAULT_APP, Operation.AI_REPLY)
            await client.tokens.get()
            queue = deque(specs)

            def budget_share() -> float:
                return per_call * max(1, state.live)

            async def worker() -> None:
                while queue:
                    spec = queue.popleft()
                    inbound = await self._control.inbound(USER, _conversation(spec), spec.prompt)
                    token = inbound.action["conversationToken"]
                    surface = _TimedReplySurface(
                        AiReplySurface(client, token, template), state.call_seconds
                    )
                    state.sent.append(
                        Sent(spec, _conversation(spec), token, inbound.message.created_at)
                    )
                    state.live += 1
                    try:
                        await relay(
                            source.stream([ChatMessage.user(spec.prompt)]),
                            [surface],
                            pacing,
                            budget_interval=budget_share,
                            pacer=strategy.make(pacing_options(pacing)),
                        )
                    finally:
                        state.live -= 1
                    state.done += 1
                    self._report(strategy, scenario, state)

            sampler = RssSampler()
            self._report(strategy, scenario, state)
            cpu_before = cpu_seconds()
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                tg.start_soon(sampler.run)
                async with anyio.create_task_group() as workers:
                    for _ in range(min(scenario.concurrency, len(specs))):
                        workers.start_soon(worker)
                tg.cancel_scope.cancel()
            wall = anyio.current_time() - started
            cpu = cpu_seconds() - cpu_before
            sampler.sample()
        return ResourceUse(
            wall_seconds=wall,
            cpu_seconds=cpu,
            chunks=0,
            peak_rss_bytes=sampler.peak,
            baseline_rss_bytes=self._baseline,
            call_seconds_p50=None,
        )

    def _report(self, strategy: Strategy, scenario: Scenario, state: _Phase) -> None:
        self._progress(
            Progress(
                strategy=strategy.name,
                concurrency=scenario.concurrency,
                phase=self._phase_index,
                phases=self._phases,
                done=state.done,
                total=scenario.replies,
            )
        )


def _conversation(spec: ReplySpec) -> str:
    return f"cid-bench-{spec.id}"


def _ignore(progress: Progress) -> None:
    pass


async def run_bench(
    settings: BenchSettings, progress: Callable[[Progress], None] = _ignore
) -> list[StrategyFigures]:
    """Run every phase of ``settings``; one row per (concurrency, strategy), in order."""
    if not settings.strategies or not settings.concurrency:
        raise ValueError("the benchmark needs at least one strategy and one concurrency")
    raise_fd_limit()
    # Control calls queue for a connection rather than fail while the child is busy.
    timeout = httpx2.Timeout(60.0, pool=None)
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    async with (
        spawned_emulator() as base_url,
        httpx2.AsyncClient(timeout=timeout, limits=limits) as http,
    ):
        return await _Bench(settings, base_url, http, progress).run()
