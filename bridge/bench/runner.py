"""Runs the benchmark: every strategy, at every concurrency, against the emulator child.

Three kinds of process take part. This one (the *runner*) only prepares and reads the
emulated world; two emulator children serve for the whole run (``emulator_process``),
one as DingTalk and one as the simulated model, so the model's thousand streams never
delay DingTalk's answers (in production they are services on machines of their own);
and every *phase* (one strategy at one concurrency level) runs the bridge side in a
fresh child of its own (``phase_process``, ``answer``), so its CPU and memory figures
are its own and no phase inherits another's heap.

``run_bench(settings, progress)`` starts the emulator children and, for each concurrency
level, defines the level's scripts in the simulated model's library; then for each
strategy it runs one phase:

1. reset the emulated world (messages, tokens, call log, QPS windows), set the QPS
   limit and create the AI card template the replies use; clear the model's record;
   open one conversation per reply, and one for the phase child's unmeasured warm-up
   reply;
2. start the phase child with a ``PhaseOrder`` and wait for its ``PhaseReport``: the
   child builds the bridge side as production does, warms up, then answers every reply
   with ``concurrency`` workers through the production relay (``answer``'s docstring);
3. read back the emulator's records and reduce them with ``collect`` and ``metrics``,
   adding the CPU time and memory the child reported.

With ``instances`` above 1 (``bridge bench --instances N``) the run also starts one
``redis-server`` (``redis_process``), and each phase runs N children at once on it, the
replies dealt out among them (``instances``): the phase gives a row per instance and a
total row, which carries the strategy's plain name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import anyio
import httpx2

from bridge.bench.answer import BENCH_TEMPLATE, PhaseOrder, PhaseReport, ReplyOrder
from bridge.bench.collect import Sent, calls_by_token, observations
from bridge.bench.emulator_process import spawned_emulator
from bridge.bench.instances import combined_use, deal, shares
from bridge.bench.metrics import StrategyFigures, reply_figures, summarize
from bridge.bench.phase_process import run_phase, run_phases
from bridge.bench.redis_process import spawned_redis
from bridge.bench.resources import raise_fd_limit
from bridge.bench.scenario import Mix, ReplySpec, Scenario, build_replies, warm_up_reply
from bridge.bench.strategies import Strategy
from bridge.config import PacingConfig
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from bridge.emulator.model.reply import EmissionView
from bridge.emulator.model.script import ModelSpeed

__all__ = ["BenchSettings", "Progress", "default_replies", "run_bench"]

USER = "alice"
#: Control-API requests in flight at once while setting a phase up.
SETUP_PARALLEL = 16

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
    log_level: int = logging.CRITICAL  # of the phase children
    instances: int = 1  # bridge processes per phase, on one Redis when more than one

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


async def _each(items: Iterable[T], action: Callable[[T], Awaitable[None]], limit: int) -> None:
    """Run ``action`` on every item, at most ``limit`` at a time."""
    limiter = anyio.CapacityLimiter(limit)

    async def one(item: T) -> None:
        async with limiter:
            await action(item)

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(one, item)


def _conversation(spec: ReplySpec) -> str:
    return f"cid-bench-{spec.id}"


def _order(spec: ReplySpec) -> ReplyOrder:
    return ReplyOrder(id=spec.id, conversation_id=_conversation(spec), prompt=spec.prompt)


@dataclass(frozen=True)
class _Records:
    """What the emulator recorded in one phase."""

    messages: list[MessageView]
    emissions: list[EmissionView]
    calls: dict[str, tuple[int, int]]


class _Bench:
    """One run: the control client of the emulator child and the settings."""

    def __init__(
        self,
        settings: BenchSettings,
        base_url: str,
        model_url: str,
        http: httpx2.AsyncClient,
        progress: Callable[[Progress], None],
        redis_url: str | None = None,
    ) -> None:
        self._settings = settings
        self._redis_url = redis_url
        self._base_url = base_url
        self._model_url = model_url
        self._control = EmulatorControl(http, base_url)
        self._model = EmulatorControl(http, model_url).model
        self._progress = progress
        self._phases = len(settings.concurrency) * len(settings.strategies)
        self._phase_index = 0
        self._warm_up = warm_up_reply(settings.mix)
        n = settings.instances
        # One warm-up conversation per instance: each process warms up on its own.
        self._warm_ups = (
            [_order(self._warm_up)]
            if n == 1
            else [
                ReplyOrder(
                    id=f"{self._warm_up.id}-{k}",
                    conversation_id=f"{_conversation(self._warm_up)}-{k}",
                    prompt=self._warm_up.prompt,
                )
                for k in range(1, n + 1)
            ]
        )

    async def run(self) -> list[StrategyFigures]:
        await self._model.reset()
        await self._model.set_speed(self._settings.speed)
        await self._model.define(self._warm_up.script_name, self._warm_up.script)
        rows = []
        for concurrency in self._settings.concurrency:
            scenario = self._settings.scenario(concurrency)
            specs = build_replies(scenario)
            await _each(
                specs, lambda s: self._model.define(s.script_name, s.script), SETUP_PARALLEL
            )
            for strategy in self._settings.strategies:
                self._phase_index += 1
                rows.extend(await self._phase(strategy, scenario, specs))
        return rows

    async def _phase(
        self, strategy: Strategy, scenario: Scenario, specs: list[ReplySpec]
    ) -> list[StrategyFigures]:
        """Steps 1–3 of the module docstring: one row, or one per instance and a total."""
        control = self._control
        await control.reset()
        await control.set_qps(scenario.qps)
        await control.register_template(BENCH_TEMPLATE.template_id, BENCH_TEMPLATE.key)
        await self._model.clear_emissions()

        async def converse(order: ReplyOrder) -> None:
            await control.create_conversation(
                "group", [USER], title=order.id, conversation_id=order.conversation_id
            )

        await _each([*self._warm_ups, *map(_order, specs)], converse, SETUP_PARALLEL)
        n = self._settings.instances
        hands = deal(specs, n)
        concurrency = [scenario.concurrency] if n == 1 else shares(scenario.concurrency, n)
        orders = [
            PhaseOrder(
                base_url=self._base_url,
                model_url=self._model_url,
                strategy=strategy.name,
                concurrency=concurrency[k],
                qps=scenario.qps,
                pacing=self._settings.pacing,
                user=USER,
                warm_up=self._warm_ups[k],
                replies=tuple(_order(spec) for spec in hands[k]),
                log_level=self._settings.log_level,
                state=self._redis_url if n > 1 else None,
                # A fresh budget per phase: nothing of the last phase's calls counts.
                state_prefix=f"bench:{self._phase_index}:",
                barrier=n > 1,
            )
            for k in range(n)
        ]

        def report(done: int) -> None:
            self._report(strategy, scenario, done)

        report(0)
        if n == 1:
            children = [await run_phase(orders[0], report)]
        else:
            children = await run_phases(orders, report)
        records = await self._records(specs)
        total = self._row(strategy.name, scenario, specs, children, records)
        if n == 1:
            return [total]
        rows = [
            replace(
                self._row(f"{strategy.name} @{k + 1}", scenario, hands[k], [child], records),
                concurrency=concurrency[k],
                instance=k + 1,
            )
            for k, child in enumerate(children)
        ]
        return [*rows, total]

    async def _records(self, specs: list[ReplySpec]) -> _Records:
        prompts = {spec.prompt for spec in specs}
        return _Records(
            messages=await self._control.messages(),
            emissions=[e for e in await self._model.emissions() if e.user in prompts],
            calls=calls_by_token(await self._control.calls(operations=[Operation.AI_REPLY])),
        )

    def _row(
        self,
        name: str,
        scenario: Scenario,
        specs: list[ReplySpec],
        children: Sequence[PhaseReport],
        records: _Records,
    ) -> StrategyFigures:
        """The figures of ``specs``, answered by ``children`` (all of them or one)."""
        by_id = {spec.id: spec for spec in specs}
        sent = [
            Sent(by_id[s.reply_id], s.conversation_id, s.token, s.user_at)
            for child in children
            for s in child.sent
            if s.reply_id in by_id
        ]
        prompts = {spec.prompt for spec in specs}
        emissions = [e for e in records.emissions if e.user in prompts]
        found = observations(sent, records.messages, emissions, records.calls)
        use = combined_use(children, chunks=sum(len(e.chunks) for e in emissions))
        figures = [reply_figures(o) for o in found]
        return summarize(name, scenario.concurrency, scenario.qps, figures, use)

    def _report(self, strategy: Strategy, scenario: Scenario, done: int) -> None:
        self._progress(
            Progress(
                strategy=strategy.name,
                concurrency=scenario.concurrency,
                phase=self._phase_index,
                phases=self._phases,
                done=done,
                total=scenario.replies,
            )
        )


def _ignore(progress: Progress) -> None:
    pass


async def run_bench(
    settings: BenchSettings, progress: Callable[[Progress], None] = _ignore
) -> list[StrategyFigures]:
    """Run every phase of ``settings``; one row per (concurrency, strategy), in order."""
    if not settings.strategies or not settings.concurrency:
        raise ValueError("the benchmark needs at least one strategy and one concurrency")
    if settings.instances < 1:
        raise ValueError("the benchmark needs at least one instance")
    raise_fd_limit()
    # Control calls queue for a connection rather than fail while the child is busy.
    timeout = httpx2.Timeout(60.0, pool=None)
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    async with (
        _redis(settings.instances) as redis_url,
        spawned_emulator() as base_url,
        spawned_emulator() as model_url,
        httpx2.AsyncClient(timeout=timeout, limits=limits) as http,
    ):
        return await _Bench(settings, base_url, model_url, http, progress, redis_url).run()


@asynccontextmanager
async def _redis(instances: int) -> AsyncIterator[str | None]:
    """The run's Redis when several instances share a budget; none for one."""
    if instances == 1:
        yield None
        return
    async with spawned_redis() as url:
        yield url
