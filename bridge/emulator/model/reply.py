"""One simulated completion on the wire: SSE chunks or a whole JSON answer, and its record.

``CompletionReply`` is the Starlette response ``ModelSimulator`` returns for a completion
it has decided to answer: it paces the planned chunks (time to first token, then one chunk
per interval), applies the stall and drop faults, and records every chunk it sends with
the real ``time.time()`` into an ``Emission``. The whole stream runs beside a watcher of
the client's ``http.disconnect``: a client that hangs up ends the reply at once (uvicorn
otherwise drops writes to a closed connection silently and the reply would trickle on).

The wire shapes follow OpenAI's chat completions: the first chunk carries the role, the
last one ``finish_reason`` with an empty delta, then (with ``include_usage``) a chunk
with no choices and the usage, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.lowlevel
from pydantic import Field
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from bridge.emulator.control.views import View
from bridge.emulator.model.prompt import PromptMessage
from bridge.emulator.model.script import (
    ChunkField,
    ModelFault,
    ModelScript,
    ModelSpeed,
    PlannedChunk,
    plan_chunks,
)

__all__ = [
    "CompletionReply",
    "Emission",
    "EmissionView",
    "EmittedChunk",
    "Outcome",
    "SimulatedDrop",
    "StreamFaults",
    "fault_response",
    "openai_error",
    "quiet_drops",
]

log = logging.getLogger(__name__)

Outcome = Literal["streaming", "complete", "dropped", "failed", "disconnected"]


class SimulatedDrop(Exception):
    """Raised inside a response to make the server abort the connection.

    The drop is logged in one line where it happens; ``quiet_drops`` keeps uvicorn from
    logging it a second time with a traceback.
    """


class _QuietDrops(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" record when it is a SimulatedDrop."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, SimulatedDrop)


_QUIET_DROPS = _QuietDrops()


def quiet_drops() -> None:
    """Stop uvicorn from logging simulated drops as tracebacks (idempotent)."""
    logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)


class EmittedChunk(View):
    """One chunk as it left the simulator."""

    at: float
    field: ChunkField
    text: str


class EmissionView(View):
    """One completion request and what the simulator sent back."""

    id: str
    model: str
    user: str
    prompt: list[PromptMessage] = Field(default_factory=list)
    stream: bool
    status: int
    outcome: Outcome
    started_at: float
    finished_at: float | None
    chunks: list[EmittedChunk]

    @property
    def text(self) -> str:
        """The content sent (``<think>`` tags included when the script used them)."""
        return "".join(c.text for c in self.chunks if c.field == "content")

    @property
    def reasoning(self) -> str:
        """The ``reasoning_content`` sent."""
        return "".join(c.text for c in self.chunks if c.field == "reasoning_content")


@dataclass
class Emission:
    """The record of one completion, filled in while it is answered."""

    id: str
    model: str
    user: str
    stream: bool
    started_at: float
    prompt: list[PromptMessage] = field(default_factory=list)
    status: int = 200
    outcome: Outcome = "streaming"
    finished_at: float | None = None
    chunks: list[EmittedChunk] = field(default_factory=list)
    done: anyio.Event = field(default_factory=anyio.Event)

    def finish(self, outcome: Outcome, status: int | None = None) -> None:
        """Mark the completion finished (the first call wins)."""
        if self.finished_at is not None:
            return
        self.outcome = outcome
        self.finished_at = time.time()
        if status is not None:
            self.status = status
        self.done.set()

    def view(self) -> EmissionView:
        """A frozen copy, for readers."""
        return EmissionView(
            id=self.id,
            model=self.model,
            user=self.user,
            prompt=list(self.prompt),
            stream=self.stream,
            status=self.status,
            outcome=self.outcome,
            started_at=self.started_at,
            finished_at=self.finished_at,
            chunks=list(self.chunks),
        )


@dataclass(frozen=True, slots=True)
class StreamFaults:
    """The stream faults that hit one completion."""

    drop: ModelFault | None
    stall: ModelFault | None
    error: ModelFault | None = None


class CompletionReply(Response):
    """One completion, streamed (SSE) or whole, with its faults and its record."""

    def __init__(
        self,
        *,
        stall: Callable[[float], Awaitable[None]],
        emission: Emission,
        script: ModelScript,
        faults: StreamFaults,
        speed: ModelSpeed,
        prompt_tokens: int,
        include_usage: bool,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.media_type = "text/event-stream" if emission.stream else "application/json"
        self.init_headers({"cache-control": "no-cache"})
        self._stall = stall
        self._emission = emission
        self._script = script
        self._faults = faults
        self._speed = speed
        self._prompt_tokens = prompt_tokens
        self._include_usage = include_usage
        self._plan = plan_chunks(script, speed.chunk_chars)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drop: SimulatedDrop | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_client, receive, tg.cancel_scope)
                try:
                    if self._emission.stream:
                        await self._stream(send)
                    else:
                        await self._whole(send)
                except SimulatedDrop as exc:
                    drop = exc  # raised below, outside the task group, ungrouped
                except OSError:  # the client went away (uvicorn's ClientDisconnected)
                    pass
                tg.cancel_scope.cancel()
        finally:
            self._emission.finish("disconnected")  # a no-op when it finished otherwise
        if drop is not None:
            raise drop

    async def _watch_client(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._emission.finish("disconnected")
        scope.cancel()

    async def _start(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

    async def _stream(self, send: Send) -> None:
        await self._start(send)
        emission = self._emission
        created = int(emission.started_at)
        origin = anyio.current_time() + self._speed.ttft
        for index, planned in enumerate(self._plan):
            origin = await self._faults_at(index, origin)
            if (error := self._faults.error) is not None and error.after_chunks == index:
                await self._send_error(send, error)
                return
            await _sleep_until(origin + index * self._speed.interval)
            delta: dict[str, Any] = {planned.field: planned.text}
            if index == 0:
                delta = {"role": "assistant", **delta}
            await self._send_event(send, self._chunk(created, delta, None))
            emission.chunks.append(
                EmittedChunk(at=time.time(), field=planned.field, text=planned.text)
            )
        origin = await self._faults_at(len(self._plan), origin)
        if not self._plan:
            await _sleep_until(origin)
            await self._send_event(
                send, self._chunk(created, {"role": "assistant", "content": ""}, None)
            )
        await self._send_event(send, self._chunk(created, {}, self._script.finish_reason))
        if self._include_usage and self._script.usage:
            await self._send_event(
                send,
                {**self._envelope(created), "choices": [], "usage": self._usage()},
            )
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        emission.finish("complete")

    async def _send_error(self, send: Send, fault: ModelFault) -> None:
        """OpenAI's error inside a stream: one event with an ``error`` object, then the end."""
        log.info("simulated model fault: %s sends an error event", self._emission.id)
        error = {"message": fault.message, "type": "server_error", "param": None, "code": None}
        await self._send_event(send, {"error": error})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        self._emission.finish("failed")

    async def _faults_at(self, index: int, origin: float) -> float:
        """Apply the faults due before chunk ``index``; returns the (shifted) time origin."""
        drop, stall = self._faults.drop, self._faults.stall
        if stall is not None and stall.after_chunks == index:
            log.info(
                "simulated model fault: %s stalls for %g s after %d chunks",
                self._emission.id,
                stall.seconds,
                index,
            )
            began = anyio.current_time()
            await self._stall(stall.seconds)
            origin += anyio.current_time() - began
        if drop is not None and drop.after_chunks == index:
            self._emission.finish("dropped")
            log.info("simulated model fault: %s dropped after %d chunks", self._emission.id, index)
            raise SimulatedDrop(f"dropped {self._emission.id} after {index} chunks")
        return origin

    async def _whole(self, send: Send) -> None:
        emission = self._emission
        plan = self._plan
        await _sleep_until(
            anyio.current_time() + self._speed.ttft + max(len(plan) - 1, 0) * self._speed.interval
        )
        now = time.time()
        emission.chunks.extend(EmittedChunk(at=now, field=p.field, text=p.text) for p in plan)
        message: dict[str, Any] = {"role": "assistant", "content": _joined(plan, "content")}
        reasoning = _joined(plan, "reasoning_content")
        if reasoning:
            message["reasoning_content"] = reasoning
        body = {
            **self._envelope(int(emission.started_at)),
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": message, "finish_reason": self._script.finish_reason}
            ],
            "usage": self._usage(),
        }
        payload = json.dumps(body, ensure_ascii=False).encode()
        if self._faults.drop is not None:
            await self._start(send)
            await send(
                {
                    "type": "http.response.body",
                    "body": payload[: len(payload) // 2],
                    "more_body": True,
                }
            )
            emission.finish("dropped")
            log.info("simulated model fault: %s dropped mid-body", emission.id)
            raise SimulatedDrop(f"dropped {emission.id} mid-body")
        self.raw_headers.append((b"content-length", str(len(payload)).encode()))
        await self._start(send)
        await send({"type": "http.response.body", "body": payload, "more_body": False})
        emission.finish("complete")

    def _envelope(self, created: int) -> dict[str, Any]:
        return {
            "id": self._emission.id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self._emission.model,
            "system_fingerprint": "emulator",
        }

    def _chunk(self, created: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        chunk = {
            **self._envelope(created),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage and self._script.usage:
            chunk["usage"] = None
        return chunk

    def _usage(self) -> dict[str, int]:
        completion = sum(len(c.text) for c in self._emission.chunks)
        return {
            "prompt_tokens": self._prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self._prompt_tokens + completion,
        }

    @staticmethod
    async def _send_event(send: Send, data: dict[str, Any]) -> None:
        line = f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
        await send({"type": "http.response.body", "body": line.encode(), "more_body": True})


async def _sleep_until(moment: float) -> None:
    delay = moment - anyio.current_time()
    if delay > 0:
        await anyio.sleep(delay)
    else:
        await anyio.lowlevel.checkpoint()


def _joined(plan: list[PlannedChunk], which: ChunkField) -> str:
    return "".join(p.text for p in plan if p.field == which)


def openai_error(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An OpenAI-style error answer."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)


def fault_response(fault: ModelFault) -> JSONResponse:
    """The answer of a ``status`` fault (with ``retry-after-ms`` when it has a delay)."""
    headers = {}
    if fault.retry_after is not None:
        headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
    kind = "rate_limit_exceeded" if fault.status == 429 else "server_error"
    return openai_error(fault.status, fault.message, kind, headers)
