"""The composition root: one ``Bridge`` wires every real component for one Config.

This is the only module that builds clients, stores and sources; everything else gets
them through its constructor. ``Bridge`` is an async context manager:

- on enter it loads tiktoken's tables (offline, once, in a worker thread), opens the
  shared HTTP client, the rate budget, one DingTalk client per assistant, the prompt
  templates (checked), the LLM sources, the store and the pipeline, then **recovers**:
  every message a previous process opened and never closed is closed now;
- ``serve`` runs the doors (a Stream connection per assistant and/or the HTTP server)
  until cancelled or ``stop`` is called (SIGTERM);
- on exit intake stops, replies in flight get ``grace_period`` seconds, and whatever is
  still open is closed by its relay (shielded, bounded).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from bridge.config import AssistantConfig, Config
from bridge.conversation.prompts import load_prompt_set
from bridge.conversation.store import MemoryStore, SqliteStore, Store
from bridge.core.frames import with_notice
from bridge.delivery.factory import SurfaceFactory
from bridge.delivery.relay import RelayResult
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.errors import ConfigError, PlatformError
from bridge.inbound.http import AssistantDoor, PushRequest, create_http_app
from bridge.inbound.payloads import (
    check_reply_hosts,
    parse_json_object,
    turn_from_action,
    turn_from_bot_message,
)
from bridge.inbound.stream import ACTION_TOPIC, BOT_TOPIC, Frame, Reply, StreamClient
from bridge.llm.source import LLMSource, create_openai_client
from bridge.llm.tokens import Encodings, load_encodings, trim_history
from bridge.pipeline import AssistantRuntime, Pipeline
from bridge.serving import running_server
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn

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
    ) -> None:
        if not config.assistants:
            raise ConfigError("at least one [[assistants]] table is required", key="assistants")
        self.config = config
        self._env = env
        self._given_store = store
        self._encodings = encodings
        self._prompts_dir = Path(prompts_dir or config.serve.prompts_dir)
        self._clock = clock
        self._stack = AsyncExitStack()
        self._stopping = anyio.Event()
        self.clients: dict[str, DingTalkClient] = {}
        self.factories: dict[str, SurfaceFactory] = {}
        self.streams: dict[str, StreamClient] = {}
        self.http_url: str | None = None
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
        encodings = self._encodings
        if encodings is None:
            encodings = await anyio.to_thread.run_sync(load_encodings)
        limits = httpx2.Limits(
            max_connections=max(100, 2 * config.serve.max_concurrent_replies + 20),
            max_keepalive_connections=64,
        )
        self.http = await self._stack.enter_async_context(
            httpx2.AsyncClient(timeout=config.dingtalk.timeout, limits=limits)
        )
        self.budget = RateBudget(config.dingtalk.qps_per_api)
        runtimes: dict[str, AssistantRuntime] = {}
        for assistant in config.assistants:
            runtimes[assistant.name] = self._runtime(assistant, encodings)
        self.store = self._given_store or await self._open_store()
        self.pipeline = await self._stack.enter_async_context(
            Pipeline(
                runtimes,
                self.store,
                config.memory,
                max_concurrent=config.serve.max_concurrent_replies,
                clock=self._clock,
            )
        )
        await self.recover()

    def _runtime(self, assistant: AssistantConfig, encodings: Encodings) -> AssistantRuntime:
        client = DingTalkClient(
            self.http,
            self.config.dingtalk,
            client_id=assistant.client_id,
            client_secret=assistant.client_secret.get_secret_value(),
            budget=self.budget,
        )
        factory = SurfaceFactory(client, assistant)
        self.clients[assistant.name] = client
        self.factories[assistant.name] = factory
        encoding = encodings.for_model(assistant.llm.model, assistant.llm)
        openai_client = create_openai_client(assistant.llm, self._env, self.http)
        per_call = self.budget.interval(assistant.client_id, Operation.AI_UPDATE)
        return AssistantRuntime(
            config=assistant,
            prompts=load_prompt_set(self._prompts_dir, assistant.prompt),
            source=LLMSource(openai_client, assistant.llm, encoding=encoding),
            trim=partial(trim_history, encoding),
            build_surface=factory.build,
            budget_interval=lambda live: per_call * live,
        )

    async def _open_store(self) -> Store:
        path = self.config.serve.state
        if path == ":memory:":
            return MemoryStore()
        return await self._stack.enter_async_context(SqliteStore(path))

    async def recover(self) -> int:
        """Close every message a previous process left open; returns how many."""
        closed = 0
        for message in await self.store.open_messages():
            factory = self.factories.get(message.assistant)
            if factory is None:
                log.warning(
                    "open message %s of unknown assistant %s dropped",
                    message.message_id,
                    message.assistant,
                )
                await self.store.closed(message.message_id)
                continue
            notice = self.config.assistant(message.assistant).pacing.failure_notice
            try:
                with anyio.fail_after(self.config.dingtalk.timeout * 2):
                    await factory.recover(
                        message.surface, message.handle, with_notice(message.text, notice)
                    )
            except (PlatformError, TimeoutError) as exc:
                # Left in the store: the next start-up tries again.
                log.warning("could not close message %s left open: %s", message.message_id, exc)
                continue
            await self.store.closed(message.message_id)
            closed += 1
            log.info("closed message %s left open by a previous run", message.message_id)
        return closed

    # ---------------------------------------------------------------- doors

    async def serve(self) -> None:
        """Run the configured doors until ``stop`` is called or the task is cancelled."""
        serve = self.config.serve
        async with anyio.create_task_group() as tg:
            if serve.stream:
                for assistant in self.config.assistants:
                    stream = self._stream_client(assistant)
                    self.streams[assistant.name] = stream
                    tg.start_soon(stream.run)
            if serve.http:
                await tg.start(self._serve_http)
            self.serving.set()
            await self._stopping.wait()
            tg.cancel_scope.cancel()

    def stop(self) -> None:
        """Stop intake and end ``serve`` (SIGTERM); replies in flight finish on exit."""
        self.pipeline.stop_intake()
        self._stopping.set()

    async def _serve_http(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        doors = {
            a.name: AssistantDoor(
                name=a.name,
                client_secret=a.client_secret.get_secret_value(),
                action_token=a.action_token.get_secret_value() if a.action_token else None,
            )
            for a in self.config.assistants
        }
        push_token = self.config.serve.push_token
        app = create_http_app(
            assistants=doors,
            submit=self._submit,
            push=self.push,
            push_token=push_token.get_secret_value() if push_token else None,
            reply_hosts=self.config.dingtalk.reply_hosts,
            health=self.health,
            max_body_bytes=self.config.serve.max_body_bytes,
            clock=self._clock,
        )
        async with running_server(
            app, host=self.config.serve.host, port=self.config.serve.port
        ) as url:
            self.http_url = url
            log.info("HTTP doors listening on %s", url)
            task_status.started()
            await anyio.sleep_forever()

    def _submit(self, turn: Turn) -> None:
        assistant = self.config.assistant(turn.assistant)
        if turn.handles.robot_code is None:
            turn = replace(turn, handles=replace(turn.handles, robot_code=assistant.robot))
        self.pipeline.submit(turn)

    def _stream_client(self, assistant: AssistantConfig) -> StreamClient:
        def handle(frame: Frame) -> Reply:
            data = parse_json_object(frame.data, "frame data")
            now = self._clock()
            if frame.topic == BOT_TOPIC:
                turn = turn_from_bot_message(
                    data,
                    assistant=assistant.name,
                    source="stream_bot",
                    received_at=now,
                    frame_id=frame.message_id,
                )
                reply = Reply()
            else:
                body = data.get("body")
                params = parse_json_object(body, "action body") if isinstance(body, str) else data
                turn = turn_from_action(
                    params,
                    assistant=assistant.name,
                    source="stream_action",
                    received_at=now,
                    frame_id=frame.message_id,
                )
                reply = Reply(data={"response": _action_response({"accepted": True})})
            check_reply_hosts(turn, self.config.dingtalk.reply_hosts)
            self._submit(turn)
            return reply

        return StreamClient(
            self.http,
            api_base=self.config.dingtalk.api_base,
            client_id=assistant.client_id,
            client_secret=assistant.client_secret.get_secret_value(),
            handler=handle,
            topics=(BOT_TOPIC, ACTION_TOPIC),
            timeout=self.config.dingtalk.timeout,
        )

    # ---------------------------------------------------------------- proactive

    async def push(self, request: PushRequest) -> dict[str, Any]:
        """Run a prompt and stream the answer to a user or a group (proactive mode)."""
        result = await self.send(request.assistant, request.to, request.prompt)
        return {
            "ok": result is not None and result.ok,
            "surface": None if result is None else result.surface,
            "text": None if result is None else result.text,
        }

    async def send(self, assistant: str, to: str, prompt: str) -> RelayResult | None:
        """``bridge send``: answer ``prompt`` into ``user:UNIONID`` or ``group:OPENCONVID``."""
        kind, _, target = to.partition(":")
        if kind not in ("user", "group") or not target:
            raise ConfigError(
                f"--to must be user:<unionId> or group:<openConversationId>, got {to!r}"
            )
        config = self.config.assistant(assistant)
        handles = (
            ReplyHandles(union_id=target, robot_code=config.robot)
            if kind == "user"
            else ReplyHandles(open_conversation_id=target, robot_code=config.robot)
        )
        turn = Turn(
            assistant=assistant,
            source="push",
            conversation_type=ConversationType.SINGLE if kind == "user" else ConversationType.GROUP,
            conversation_key=f"push:{to}",
            conversation_title="",
            sender=Sender(staff_id=None, union_id=target if kind == "user" else None, nick=""),
            text=prompt,
            handles=handles,
            received_at=self._clock(),
        )
        return await self.pipeline.answer(turn)

    def health(self) -> dict[str, Any]:
        stats = self.pipeline.stats
        return {
            "assistants": [a.name for a in self.config.assistants],
            "replies_running": stats.running,
            "replies_queued": stats.queued,
            "answered": stats.answered,
            "failed": stats.failed,
            "duplicates": stats.duplicates,
            "stream_connections": {n: s.stats.connections for n, s in self.streams.items()},
        }


def _action_response(body: dict[str, Any]) -> dict[str, Any]:
    """The HTTP response an AI action returns inside its ACK (§6.5)."""
    return {
        "statusLine": {"code": 200, "reasonPhrase": "OK"},
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
