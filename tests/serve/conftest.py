"""A real `Bridge` (bridge serve's own wiring) against the emulator, over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from bridge.app import Bridge
from bridge.config import Config
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from bridge.emulator.model.script import SpeedUpdate
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.emulator.state import Emulator

ROOT = Path(__file__).resolve().parents[2]
PUSH_TOKEN = "push-secret"
ACTION_TOKEN = "action-secret"
TEMPLATE = "bridge-markdown.schema"
"""The AI card template the ``emulator`` fixture creates (the emulator knows no other)."""


def bridge_settings(base_url: str, state: Path, **sections: Any) -> dict[str, Any]:
    """A bridge configuration (as a dict) pointing at the emulator, fast timings."""
    settings: dict[str, Any] = {
        "dingtalk": {
            "api_base": base_url,
            "oapi_base": base_url,
            # The emulator hands out webhooks on its own port: allow-listed as host:port.
            "reply_hosts": [base_url.removeprefix("http://")],
            "timeout": 5.0,
            "retry": {"backoff_initial": 0.02, "backoff_max": 0.2, "rate_limited_wait": 0.2},
        },
        "llm": {"base_url": f"{base_url}/v1", "model": "simulated", "max_retries": 0},
        "pacing": {"oneshot_window": 0.3, "min_interval": 0.2, "max_idle": 0.5},
        "delivery": {"ai_template_id": TEMPLATE},
        "serve": {
            "port": 0,
            "state": str(state),
            "prompts_dir": str(ROOT / "prompts"),
            "push_token": PUSH_TOKEN,
            "grace_period": 5.0,
        },
        "assistants": [
            {
                "name": "dev",
                "client_id": "dingbridge-dev",
                "client_secret": "dev-secret",
                "action_token": ACTION_TOKEN,
            }
        ],
    }
    for name, values in sections.items():
        # Tables merge key by key; arrays (the assistants) replace.
        merge = isinstance(values, dict)
        settings[name] = {**settings.get(name, {}), **values} if merge else values
    return settings


@dataclass
class Served:
    """An emulator, a bridge serving against it, and a way to watch answers."""

    emulator: RunningEmulator
    control: EmulatorControl
    http: httpx2.AsyncClient
    bridge: Bridge

    @property
    def model(self) -> Any:
        return self.emulator.emulator.model


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(Emulator.with_defaults()) as running:
        running.emulator.register_template(TEMPLATE, "content")
        running.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=800))
        yield running


@asynccontextmanager
async def serving(
    emulator: RunningEmulator, http: httpx2.AsyncClient, settings: dict[str, Any]
) -> AsyncIterator[Served]:
    """Run `Bridge.serve` in the background until the block ends."""
    control = EmulatorControl(http, emulator.base_url)
    config = Config.model_validate(settings)
    async with Bridge(config, {}) as bridge, anyio.create_task_group() as tg:
        tg.start_soon(bridge.serve)
        with anyio.fail_after(10):
            await bridge.serving.wait()
        if config.serve.stream:
            await control.wait_connections(1, client_id="dingbridge-dev")
        try:
            yield Served(emulator, control, http, bridge)
        finally:
            bridge.stop()


@pytest.fixture
def serve(
    emulator: RunningEmulator, http: httpx2.AsyncClient, tmp_path: Path
) -> Callable[..., Any]:
    """`async with serve(**sections) as served:` runs a bridge with those overrides."""

    def start(**sections: Any) -> Any:
        settings = bridge_settings(emulator.base_url, tmp_path / "state.sqlite3", **sections)
        return serving(emulator, http, settings)

    return start


async def answer_in(control: EmulatorControl, conversation_id: str, after: float) -> MessageView:
    """Wait for the bot's answer in a conversation (created after ``after``) to end."""
    with anyio.fail_after(20):
        async with control.events() as events:
            for message in await control.transcript(conversation_id):
                if _is_final_answer(message, after):
                    return message
            async for event in events:
                message = event.message
                if (
                    message is not None
                    and message.conversation_id == conversation_id
                    and _is_final_answer(message, after)
                ):
                    return message
    raise AssertionError("the event stream ended before the answer")


async def streaming_in(control: EmulatorControl, conversation_id: str, after: float) -> MessageView:
    """Wait until the bot's answer in a conversation is visibly streaming (inputting, text)."""
    with anyio.fail_after(20):
        async with control.events() as events:
            for message in await control.transcript(conversation_id):
                if _is_streaming_answer(message, after):
                    return message
            async for event in events:
                message = event.message
                if (
                    message is not None
                    and message.conversation_id == conversation_id
                    and _is_streaming_answer(message, after)
                ):
                    return message
    raise AssertionError("the event stream ended before the answer streamed")


def _is_streaming_answer(message: MessageView, after: float) -> bool:
    return (
        message.sender_kind == "bot"
        and message.created_at >= after
        and message.state == "inputting"
        and bool(message.text)
    )


def _is_final_answer(message: MessageView, after: float) -> bool:
    return (
        message.sender_kind == "bot"
        and message.created_at >= after
        and message.state in ("finished", "failed")
    )
