"""Running the sandbox: the emulator, then a production ``Bridge`` wired to it.

``running_sandbox`` is exactly what ``bridge dev`` runs and what the browser tests use:

1. serve the emulator (DingTalk, Stream gateway, simulated model, chat page) with the
   sandbox world, and create the sandbox's AI card template through its control API;
2. build the Config (``wiring.sandbox_config``) and enter ``Bridge`` with it: the real
   DingTalk client, the real openai client, Stream mode;
3. run ``bridge.serve()`` in the block's task group and yield once it is serving.

The emulator's server also answers the bridge's probes, ``/healthz``, ``/readyz`` and
``/metrics`` (``bridge.observe.routes``): 503 ``starting`` until the bridge exists.

Leaving the block stops intake, lets replies in flight finish (a short grace period),
closes whatever is still open while the emulator is still up, then stops the emulator.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2

import bridge
from bridge.app import Bridge
from bridge.config import Config
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.observe.routes import Probes, probe_routes
from bridge.sandbox.wiring import (
    DEFAULT_PROMPT,
    SANDBOX_TEMPLATE,
    ModelChoice,
    choose_llm,
    sandbox_config,
    sandbox_world,
)

__all__ = ["Sandbox", "find_prompts_dir", "running_sandbox"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: the chat page's URL and handles on what runs behind it."""

    url: str
    emulator: RunningEmulator
    bridge: Bridge
    model: ModelChoice


def find_prompts_dir(cwd: Path | None = None) -> Path | None:
    """The repository's ``prompts/`` (next to the package, or in ``cwd``), if there is one."""
    package_root = Path(bridge.__file__).resolve().parent.parent
    for candidate in (package_root / "prompts", (cwd or Path.cwd()) / "prompts"):
        if (candidate / "default.md").is_file():
            return candidate
    return None


def _prompts_dir(stack: AsyncExitStack | None = None) -> Path:
    """The repository's prompts, else a temporary directory holding the default prompt."""
    found = find_prompts_dir()
    if found is not None:
        return found
    temporary = tempfile.TemporaryDirectory(prefix="bridge-dev-prompts-")
    if stack is not None:
        stack.callback(temporary.cleanup)
    directory = Path(temporary.name)
    (directory / "default.md").write_text(DEFAULT_PROMPT, encoding="utf-8")
    log.info("prompts/ not found: using the built-in default prompt")
    return directory


@asynccontextmanager
async def running_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    env: Mapping[str, str] | None = None,
    base: Config | None = None,
) -> AsyncIterator[Sandbox]:
    """Serve the emulator and a Bridge wired to it; yield once the bridge is serving.

    ``env`` is the environment the bridge sees (``OPENAI_BASE_URL``/``OPENAI_API_KEY``
    switch to a real model); ``base`` is the ``--config`` file, whose ``[llm]`` section
    (if any) also selects the real model and whose pacing/delivery settings are kept.
    """
    environment = dict(env or {})
    async with AsyncExitStack() as stack:
        prompts = await anyio.to_thread.run_sync(_prompts_dir, stack)
        probes: list[Probes] = []  # the bridge's, once it exists
        running = await stack.enter_async_context(
            running_emulator(
                sandbox_world(),
                host=host,
                port=port,
                extra=probe_routes(lambda: probes[0] if probes else None),
            )
        )
        async with httpx2.AsyncClient(timeout=10.0, trust_env=False) as http:
            await EmulatorControl(http, running.base_url).register_template(*SANDBOX_TEMPLATE)
        model = choose_llm(running.base_url, environment, base)
        config = sandbox_config(running.base_url, llm=model.llm, prompts_dir=prompts, base=base)
        service = await stack.enter_async_context(Bridge(config, environment))
        probes.append(service.probes)
        async with anyio.create_task_group() as tg:
            tg.start_soon(service.serve)
            await service.serving.wait()
            try:
                yield Sandbox(
                    url=f"{running.base_url}/",
                    emulator=running,
                    bridge=service,
                    model=model,
                )
            finally:
                # Ends serve(); the Bridge's exit then drains and closes open replies.
                service.stop()
