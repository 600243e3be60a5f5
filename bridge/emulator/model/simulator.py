"""The simulated OpenAI-compatible model: its state, and how it answers one completion.

``ModelSimulator`` holds the model's speed, the queue and library of scripted replies,
the default generator, installed faults, an optional context limit, and a record of
every completion it emitted (each chunk with the real ``time.time()`` it left at, for the
benchmark). ``ModelSimulator.complete`` serves ``POST /v1/chat/completions``: it applies
the status faults, refuses a prompt over the context limit (``context``), picks the reply
(a ``[[script=NAME]]`` directive, the queue, or the generator; see ``script``) and hands
the rest to ``reply.CompletionReply``. A request's messages are read and recorded by
``prompt`` (images included); when the last user message shows images and no script
applies, the generated answer starts by saying so ("I see an image of 1234 bytes."), so
a test can tell that the pictures arrived. The routes and the control endpoints are in
``routes``.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

import anyio
from starlette.requests import Request
from starlette.responses import Response

from bridge.emulator.control.views import View
from bridge.emulator.model.context import ContextLimit, refusal_response
from bridge.emulator.model.prompt import PromptMessage, last_user, read_prompt
from bridge.emulator.model.reply import (
    CompletionReply,
    Emission,
    EmissionView,
    StreamFaults,
    fault_response,
    openai_error,
)
from bridge.emulator.model.script import (
    GeneratorSpec,
    ModelFault,
    ModelScript,
    ModelSpeed,
    SpeedUpdate,
    generate,
    parse_directives,
)

__all__ = ["MODEL_ID", "InstalledFault", "ModelSimulator", "ModelStateView"]

log = logging.getLogger(__name__)

MODEL_ID = "emulator-model"


class InstalledFault(View):
    """A fault installed on the simulator, and how many completions it may still hit."""

    id: int
    fault: ModelFault
    remaining: int | None
    fired: int


class ModelStateView(View):
    """The simulator's settings, for a quick look."""

    speed: ModelSpeed
    generator: GeneratorSpec
    queued: list[ModelScript]
    library: dict[str, ModelScript]
    faults: list[InstalledFault]
    requests: int
    context: ContextLimit | None = None


@dataclass
class _Fault:
    id: int
    fault: ModelFault
    remaining: int | None
    fired: int = 0

    def view(self) -> InstalledFault:
        return InstalledFault(
            id=self.id, fault=self.fault, remaining=self.remaining, fired=self.fired
        )


class ModelSimulator:
    """State of the simulated model: scripts, speed, faults, and a record of emissions."""

    def __init__(
        self, speed: ModelSpeed | None = None, generator: GeneratorSpec | None = None
    ) -> None:
        self._initial = (speed or ModelSpeed(), generator or GeneratorSpec())
        self._ids = itertools.count(1)
        self.speed, self.generator = self._initial
        self._queue: deque[ModelScript] = deque()
        self._library: dict[str, ModelScript] = {}
        self._faults: list[_Fault] = []
        self._emissions: list[Emission] = []
        self._context: ContextLimit | None = None
        # Events are created lazily, inside the event loop that serves the model.
        self._release: anyio.Event | None = None
        self._arrival: anyio.Event | None = None

    # -- settings ---------------------------------------------------------------------

    def set_speed(self, update: SpeedUpdate | ModelSpeed) -> ModelSpeed:
        """Change the speed (the fields given); returns the new speed."""
        changes = update.model_dump(exclude_none=True)
        self.speed = self.speed.model_copy(update=changes)
        return self.speed

    def set_generator(self, spec: GeneratorSpec) -> None:
        """Replace the default generator."""
        self.generator = spec

    def queue(self, *scripts: ModelScript) -> None:
        """Queue scripted replies; each is used by one completion, in order."""
        self._queue.extend(scripts)

    def clear_queue(self) -> None:
        """Forget the queued scripts."""
        self._queue.clear()

    def define(self, name: str, script: ModelScript) -> None:
        """Put ``script`` in the library, for ``[[script=name]]``."""
        self._library[name] = script

    def add_fault(self, fault: ModelFault) -> int:
        """Install a fault; returns its id."""
        installed = _Fault(id=next(self._ids), fault=fault, remaining=fault.count)
        self._faults.append(installed)
        return installed.id

    def clear_faults(self) -> None:
        """Remove every installed fault."""
        self._faults.clear()

    def set_context(self, limit: ContextLimit | None) -> None:
        """Refuse prompts longer than ``limit`` from now on (None: no limit); see ``context``."""
        self._context = limit

    def release_stalls(self) -> None:
        """End every stall in progress now."""
        if self._release is not None:
            self._release.set()
            self._release = None

    def reset(self) -> None:
        """Back to the defaults: speed, generator, empty queue, library, faults, record."""
        self.release_stalls()
        self.speed, self.generator = self._initial
        self._queue.clear()
        self._library.clear()
        self._faults.clear()
        self._emissions.clear()
        self._context = None

    # -- reading ----------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Completion requests received so far (failed ones included)."""
        return len(self._emissions)

    def emissions(self, since: int = 0) -> list[EmissionView]:
        """Every completion after the first ``since``, oldest first."""
        return [e.view() for e in self._emissions[since:]]

    def clear_emissions(self) -> None:
        """Forget the record of completions."""
        self._emissions.clear()

    def state(self) -> ModelStateView:
        """The current settings."""
        return ModelStateView(
            speed=self.speed,
            generator=self.generator,
            queued=list(self._queue),
            library=dict(self._library),
            faults=[f.view() for f in self._faults],
            requests=self.requests,
            context=self._context,
        )

    # -- serving ----------------------------------------------------------------------

    def _take_fault(self, kind: Literal["drop", "stall", "status", "error"]) -> ModelFault | None:
        for installed in self._faults:
            if installed.fault.kind == kind:
                installed.fired += 1
                if installed.remaining is not None:
                    installed.remaining -= 1
                    if installed.remaining == 0:
                        self._faults.remove(installed)
                return installed.fault
        return None

    async def _stall(self, seconds: float) -> None:
        """Wait ``seconds``, or until ``release_stalls``."""
        if self._release is None:
            self._release = anyio.Event()
        with anyio.move_on_after(seconds):
            await self._release.wait()

    async def wait_finished(self, index: int) -> EmissionView:
        """Wait until the ``index``-th completion (0-based) has finished, and return it."""
        while index >= len(self._emissions):
            await self._arrived().wait()
        emission = self._emissions[index]
        await emission.done.wait()
        return emission.view()

    def _arrived(self) -> anyio.Event:
        if self._arrival is None:
            self._arrival = anyio.Event()
        return self._arrival

    async def complete(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        try:
            body = json.loads(await request.body())
            messages = body["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty array")
            prompt = read_prompt(messages)
        except (ValueError, KeyError, TypeError) as exc:
            return openai_error(400, f"invalid request: {exc}", "invalid_request_error")
        asker = last_user(prompt)
        emission = Emission(
            id=f"chatcmpl-emu-{next(self._ids)}",
            model=str(body.get("model") or MODEL_ID),
            user=asker.content if asker is not None else "",
            prompt=prompt,
            stream=bool(body.get("stream")),
            started_at=time.time(),
        )
        self._emissions.append(emission)
        if self._arrival is not None:
            self._arrival.set()
            self._arrival = None
        status_fault = self._take_fault("status")
        if status_fault is not None:
            return _failed(emission, status_fault)
        prompt_chars = sum(len(m.content) for m in prompt)
        limit = self._context
        if limit is not None and prompt_chars > limit.tokens:
            response = refusal_response(limit, prompt_chars, stream=emission.stream)
            emission.finish("failed", response.status_code)
            log.info(
                "simulated model: %s refused, %d prompt tokens over the context of %d (%s)",
                emission.id,
                prompt_chars,
                limit.tokens,
                limit.refusal,
            )
            return response
        directives = parse_directives(emission.user)
        if directives.script is not None:
            script = self._library.get(directives.script)
            if script is None:
                emission.finish("failed", 400)
                return openai_error(
                    400, f"no script named {directives.script!r}", "invalid_request_error"
                )
        elif self._queue:
            script = self._queue.popleft()
        else:
            script = _seeing(generate(self.generator, directives), asker)
        own = script.fault
        if own is not None and own.kind == "status":
            return _failed(emission, own)
        faults = StreamFaults(
            drop=own if own is not None and own.kind == "drop" else self._take_fault("drop"),
            stall=own if own is not None and own.kind == "stall" else self._take_fault("stall"),
            error=own if own is not None and own.kind == "error" else self._take_fault("error"),
        )
        options = body.get("stream_options") or {}
        return CompletionReply(
            stall=self._stall,
            emission=emission,
            script=script,
            faults=faults,
            speed=self.speed,
            prompt_tokens=prompt_chars,
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        )


def _seeing(script: ModelScript, asker: PromptMessage | None) -> ModelScript:
    """``script`` led by one sentence per image the user's message shows (only those
    sentences when the message has no words)."""
    if asker is None or not asker.images:
        return script
    seen = " ".join(
        f"I see an image of {p.size} bytes." if p.data else f"I see an image at {p.url}."
        for p in asker.images
    )
    text = f"{seen} {script.text}" if asker.content.strip() else seen
    return script.model_copy(update={"text": text})


def _failed(emission: Emission, fault: ModelFault) -> Response:
    """Answer ``emission`` with the status of ``fault``, in one log line."""
    emission.finish("failed", fault.status)
    log.info("simulated model fault: %s answered HTTP %s", emission.id, fault.status)
    return fault_response(fault)
