"""`bridge` as a child process of a test: its configuration, and reaping it.

``write_config`` writes a bridge.toml pointing every DingTalk and model URL at an
emulator, with fast retries and pacing (Stream mode, no HTTP door, unless ``serve``
says otherwise). ``reaped`` kills a child still running when its block ends and waits
for it, shielded, so a failing test leaves no process behind.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = str(Path(sys.executable).parent / "bridge")
CLIENT_ID = "dingbridge-dev"
SECRET = "dev-secret"


def write_config(
    path: Path, base_url: str, *, extra: str = "", assistant: str = "", **serve: Any
) -> Path:
    """A bridge.toml at ``path`` pointing at the emulator at ``base_url``.

    ``serve`` sets [serve] keys; ``extra`` is appended TOML (other tables) and
    ``assistant`` goes into the one [[assistants]] table.
    """
    settings = {
        "http": False,
        "state": str(path.parent / "state.sqlite3"),
        "prompts_dir": str(ROOT / "prompts"),
        "grace_period": 5.0,
        **serve,
    }
    serve_lines = "\n".join(f"{key} = {_toml(value)}" for key, value in settings.items())
    path.write_text(
        f"""
[dingtalk]
api_base = "{base_url}"
oapi_base = "{base_url}"
reply_hosts = ["{base_url.removeprefix("http://")}"]
retry = {{ backoff_initial = 0.05, backoff_max = 0.2 }}

[llm]
base_url = "{base_url}/v1"
model = "simulated"
max_retries = 0

[delivery]
ai_template_id = "bridge-markdown.schema"

[pacing]
oneshot_window = 0.3
min_interval = 0.3

[serve]
{serve_lines}

{extra}

[[assistants]]
name = "dev"
client_id = "{CLIENT_ID}"
client_secret = "{SECRET}"
{assistant}
""",
        encoding="utf-8",
    )
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


@asynccontextmanager
async def reaped(process: Process) -> AsyncIterator[Process]:
    """``process`` for the block; killed if it outlives it, and waited for (10 s at most)."""
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.move_on_after(10, shield=True):
            await process.wait()
