"""The composition root: one ``Bridge`` wires every real component for one Config.

This is the only module that builds clients, stores and sources; everything else gets
them through its constructor. ``Bridge`` is an async context manager:

- on enter it opens the state store and registers this process in it as an owner
  (``bridge.state.lease``; a second ``bridge serve`` on a store that is not shared is
  refused right there), loads tiktoken's tables (offline, once, in a worker thread),
  opens the HTTP clients (DingTalk's, the models'), the rate budget, one DingTalk client
  per assistant, the prompt templates (checked), the LLM sources and the pipeline, then,
  as ``bridge serve``, **recovers** (``bridge.recovery``): messages left open by
  processes that are gone are closed, and their journaled Turns are answered;
- ``serve`` runs the doors (a Stream connection per assistant and/or the HTTP server)
  until cancelled or ``stop`` is called (SIGTERM); the doors of ``bridge.inbound`` turn
  what they receive into Turns and hand them to the pipeline, and a stop button's press
  to its ``stops`` (``bridge.doors``). Beside them, every
  ``[serve] takeover_interval`` seconds, ``take_over`` adopts the work of instances that
  are gone (several instances on Redis; or a killed ``bridge send``) and checks that
  every lane of this process has a worker; and ``watch_tokens`` keeps each assistant's
  access token fresh, so readiness learns of refused credentials;
- ``metrics`` (one Prometheus registry per Bridge) is fed by the observers handed to the
  budget, the clients, the LLM sources and the pipeline; ``report`` answers
  ``/healthz``, ``/readyz`` and the scrape-time gauges (``bridge.observe``);
- on exit intake stops, replies in flight get ``grace_period`` seconds, and whatever is
  still open is closed by its relay (shielded, bounded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from bridge.config import AssistantConfig, Config
from bridge.conversation.media import MediaReader
from bridge.delivery.factory import SurfaceFactory
from bridge.delivery.relay import RelayResult
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.media import MediaFetcher
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.shared_budget import open_budget
from bridge.doors import register_card_routes, stop_mailbox, stream_client
from bridge.errors import ConfigError, StateError
from bridge.inbound.http import AssistantDoor, create_http_app
from bridge.inbound.push import PushDoor, PushRequest
from bridge.inbound.stream import StreamClient
from bridge.llm.source import LLMSource, create_openai_client
from bridge.llm.tokens import (
    Encodings,
    halve_history,
    load_encodings,
    token_factor,
    trim_history,
)
from bridge.llm.transport import model_http_client
from bridge.observe.credentials import watch_tokens
from bridge.observe.metrics import Metrics
from bridge.observe.report import Report
from bridge.observe.routes import Probes
from bridge.pipeline import AssistantRuntime, IntakeLimits, Pipeline
from bridge.recovery import Recovered
from bridge.recovery import recover as recover_work
from bridge.serving import ServerLimits, ServerStats, running_server
from bridge.startup import check_startup
from bridge.state import Role, Store, open_store
from bridge.state.lease import Membership, Occupied

log = logging.getLogger(__name__)


class Bridge:
    """The running service for one configuration."""

    def __init__(
        self,
        config: Config,
        env: Mapping[str, str],
        *,
        store: Store | None = None,
        encodings: Encodings | None = None,
        prompts_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        role: Role = Role.SERVE,
    ) -> None:
        # Every start-up check that needs no network; `bridge config check` runs the same.
        self._checked = check_startup(config, prompts_dir=prompts_dir)
        self.config = config
        self._env = env
        self._given_store = store
        self._encodings = encodings
        self._clock = clock
        self.role = role
        self._stack = AsyncExitStack()
        self._stopping = anyio.Event()
        self.clients: dict[str, DingTalkClient] = {}
        self.factories: dict[str, SurfaceFactory] = {}
        self.streams: dict[str, StreamClient] = {}
        self.http_url: str | None = None
        self.http_stats = ServerStats()
        self.metrics = Metrics()
        self._fatal: BaseException | None = None
        self.serving = anyio.Event()

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Bridge:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            self.pipeline.stop_intake()
            if not await self.pipeline.drain(self.config.serve.grace_period):
                log.warning("grace period over: closing the replies still running")
        finally:
            await self._stack.aclose()

    async def _start(self) -> None:
        config = self.config
        # First, before anything is loaded or logged: a refused second instance ends
        # with one line and nothing else.
        store = self._given_store
        if store is None:
            store = await self._stack.enter_async_context(
                open_store(config.serve.state, prefix=config.serve.state_prefix)
            )
        self.store: Store = store
        self.membership = await self._join(store)
        encodings = self._encodings
        if encodings is None:
            encodings = await anyio.to_thread.run_sync(load_encodings)
        # Two clients: DingTalk's calls (a close, a one-shot) never queue behind the
        # model's streams, nor pay the pool's per-request bookkeeping over a thousand of
        # them; the model's is itself split into shards (``bridge.llm.transport``).
        limits = httpx2.Limits(
            max_connections=max(100, config.serve.max_concurrent_replies + 20),
            max_keepalive_connections=64,
        )
        self.http = await self._stack.enter_async_context(
            httpx2.AsyncClient(timeout=config.dingtalk.timeout, limits=limits)
        )
        self.model_http = await self._stack.enter_async_context(model_http_client(limits))
        # Shared by every instance on the Redis of [serve] state, else this process's.
        self.budget = await self._stack.enter_async_context(open_budget(config, self.metrics))
        runtimes: dict[str, AssistantRuntime] = {}
        for assistant in config.assistants:
            runtimes[assistant.name] = self._runtime(assistant, encodings)
        serve = config.serve
        self.pipeline = await self._stack.enter_async_context(
            Pipeline(
                runtimes,
                self.store,
                config.memory,
                max_concurrent=serve.max_concurrent_replies,
                intake=IntakeLimits(
                    per_conversation=serve.max_queued_per_conversation,
                    total=serve.max_queued,
                    retry_after=serve.busy_retry_after,
                    replay_max_age=serve.replay_max_age,
                    lost_notice=serve.lost_notice,
                ),
                owner=self.membership.id,
                clock=self._clock,
                observer=self.metrics,
                stop_mailbox=stop_mailbox(self.store),
            )
        )
        self.report = Report(
            config=config,
            stats=self.pipeline.stats,
            membership=self.membership,
            streams=self.streams,
            tokens={name: client.tokens for name, client in self.clients.items()},
            http_stats=self.http_stats,
            stopping=self._stopping.is_set,
        )
        self.metrics.add(self.report)
        self._pushes = PushDoor(
            answer=self.pipeline.answer,
            robot_codes={a.name: a.robot for a in config.assistants},
            clock=self._clock,
        )
        if self.role is not Role.SEND:
            # `bridge send` recovers nothing: what it finds open may be a running
            # service's, and that service (or the next one) recovers its own.
            await self.recover()

    async def _join(self, store: Store) -> Membership:
        """Register this process as an owner in ``store``; refuse a second ``bridge serve``."""
        membership = Membership(
            store,
            role=self.role,
            lease=self.config.serve.instance_lease,
            clock=self._clock,
            exclusive=self.role is Role.SERVE and not store.shared,
        )
        try:
            return await self._stack.enter_async_context(membership)
        except Occupied as exc:
            holder = exc.holder
            raise ConfigError(
                f"{self.config.serve.state} is held by another bridge serve (pid {holder.pid}"
                f" on {holder.host}); several instances need a shared backend: Redis,"
                ' state = "redis://host:6379/0"',
                key="serve.state",
            ) from None

    def _runtime(self, assistant: AssistantConfig, encodings: Encodings) -> AssistantRuntime:
        client = DingTalkClient(
            self.http,
            self.config.dingtalk,
            client_id=assistant.client_id,
            client_secret=assistant.client_secret.get_secret_value(),
            budget=self.budget,
            observer=self.metrics.dingtalk(assistant.name),
        )
        factory = SurfaceFactory(client, assistant)
        self.clients[assistant.name] = client
        self.factories[assistant.name] = factory
        encoding = encodings.for_model(assistant.llm.model, assistant.llm)
        openai_client = create_openai_client(assistant.llm, self._env, self.model_http)
        # Read live: a shared budget's share changes as instances come and go.
        per_call = partial(self.budget.interval, assistant.client_id, Operation.AI_UPDATE)
        media = self.config.media
        fetcher = MediaFetcher(
            lambda code, robot: client.message_file_url(code, robot_code=robot), self.http, media
        )
        return AssistantRuntime(
            config=assistant,
            prompts=self._checked.prompts[assistant.name],
            source=LLMSource(
                openai_client,
                assistant.llm,
                encoding=encoding,
                observer=self.metrics.model(assistant.name),
            ),
            trim=partial(
                trim_history, encoding, factor=token_factor(assistant.llm.model, assistant.llm)
            ),
            shorten=partial(halve_history, encoding),
            build_surface=factory.build,
            budget_interval=lambda live: per_call() * live,
            read_user=MediaReader(fetcher.picture, media, vision=assistant.llm.vision).user_message,
        )

    async def take_over(self) -> None:
        """Adopt and finish the work of instances that are gone; wake this one's lanes.

        Skipped while the store was unreachable within the last lease: the other
        instances could not renew their leases either, and must have had the time to.
        """
        if not self.membership.settled():
            return
        await self.membership.sweep()
        await self.recover()
        await self.pipeline.housekeep()

    async def _take_over_periodically(self) -> None:
        while True:
            await anyio.sleep(self.config.serve.takeover_interval)
            try:
                await self.take_over()
            except StateError as exc:
                log.warning("takeover check skipped, the state store is away: %s", exc)
            except Exception:
                # The boundary of this unit of work: the next check tries again.
                log.exception("takeover check failed")

    async def recover(self) -> Recovered:
        """Close what gone processes left open and queue their journaled Turns again."""
        recovered = await recover_work(
            store=self.store,
            owner=self.membership.id,
            config=self.config,
            factories=self.factories,
            pipeline=self.pipeline,
            clock=self._clock,
        )
        if recovered.closed or recovered.skipped or recovered.replayed:
            log.info(
                "recovered: %d messages closed, %d skipped, %d Turns replayed",
                recovered.closed,
                recovered.skipped,
                recovered.replayed,
            )
        return recovered

    # ---------------------------------------------------------------- doors

    async def serve(self) -> None:
        """Run the configured doors until ``stop`` is called or the task is cancelled."""
        serve = self.config.serve
        async with anyio.create_task_group() as tg:
            if serve.stream:
                for assistant in self.config.assistants:
                    stream = stream_client(
                        assistant,
                        config=self.config,
                        http=self.http,
                        client=self.clients[assistant.name],
                        accept=self.pipeline.accept,
                        stop=self.pipeline.stops.request,
                        clock=self._clock,
                    )
                    self.streams[assistant.name] = stream
                    tg.start_soon(stream.run)
            if serve.http:
                await register_card_routes(self.config.assistants, self.clients)
                await tg.start(self._serve_http)
            if self.role is Role.SERVE:
                tg.start_soon(self._take_over_periodically)
            tg.start_soon(watch_tokens, {n: c.tokens for n, c in self.clients.items()})
            self.serving.set()
            await self._stopping.wait()
            tg.cancel_scope.cancel()
        if self._fatal is not None:
            raise self._fatal  # a request's SystemExit or the like: it ends the process

    def _fail(self, error: BaseException) -> None:
        """A door met a BaseException that must end the process: stop, re-raise in serve."""
        self._fatal = error
        self.stop()

    def stop(self) -> None:
        """Stop intake and end ``serve`` (SIGTERM); replies in flight finish on exit."""
        self.pipeline.stop_intake()
        self._stopping.set()

    async def _serve_http(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        serve = self.config.serve
        push_token = serve.push_token
        app = create_http_app(
            assistants={a.name: AssistantDoor.from_config(a) for a in self.config.assistants},
            accept=self.pipeline.accept,
            push=self.push,
            push_token=push_token.get_secret_value() if push_token else None,
            reply_hosts=self.config.dingtalk.reply_hosts,
            health=self.health,
            max_body_bytes=serve.max_body_bytes,
            body_timeout=serve.body_timeout,
            max_requests=serve.max_requests,
            clock=self._clock,
            on_fatal=self._fail,
            readiness=self.report.readiness,
            metrics=self.metrics.exposition,
            stop=self.pipeline.stops.request,
        )
        limits = ServerLimits(
            header_timeout=serve.header_timeout,
            # A backstop for bodies nobody reads: the doors answer 408 at body_timeout.
            body_timeout=serve.body_timeout + 5.0,
            max_connections=serve.max_connections,
        )
        async with running_server(
            app, host=serve.host, port=serve.port, limits=limits, stats=self.http_stats
        ) as url:
            self.http_url = url
            log.info("HTTP doors listening on %s", url)
            task_status.started()
            await anyio.sleep_forever()

    # ---------------------------------------------------------------- proactive

    async def push(self, request: PushRequest) -> dict[str, Any]:
        """Run a prompt and stream the answer to a user or a group (proactive mode)."""
        return await self._pushes.push(request)

    async def send(self, assistant: str, to: str, prompt: str) -> RelayResult | None:
        """``bridge send``: answer ``prompt`` into ``user:UNIONID`` or ``group:OPENCONVID``."""
        return await self._pushes.send(assistant, to, prompt)

    def health(self) -> dict[str, Any]:
        """Liveness counters, as ``/healthz`` shows them (``bridge.observe.report``)."""
        return self.report.health()

    @property
    def probes(self) -> Probes:
        """What ``/healthz``, ``/readyz`` and ``/metrics`` answer from."""
        return Probes(
            health=self.report.health,
            readiness=self.report.readiness,
            metrics=self.metrics.exposition,
        )
