"""The `bridge` command as a real process: how the command-line tests start and read it.

``run_bridge`` runs a command to its end (start-up mistakes); ``bridge_process`` keeps
one running while the test drives it (signals, logs), reading its stdout and stderr line
by line as they come. Both give the child a clean environment: no model keys, no proxies.
Configurations come from ``tests.child.write_config``. The ``emulator`` fixture is
tests/serve's: the emulator served in this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc

from tests.child import BRIDGE, reaped
from tests.serve.conftest import emulator  # noqa: F401 - a fixture, used by name


def clean_env(**extra: str) -> dict[str, str]:
    """An environment with PATH and HOME only, plus ``extra``."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        **extra,
    }


def run_bridge(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `bridge ARGS` to its end and capture its output."""
    return subprocess.run(
        [BRIDGE, *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=45,
        check=False,
    )


def assert_one_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The run failed with exactly one stderr line, `error: …` holding ``words``."""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], result.stderr
    assert result.returncode == code, result.stderr
    return lines[0]


class Running:
    """A running `bridge` child: its lines so far, and ways to wait for more or stop it."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = anyio.Event()
        self._ended = 0  # streams read to their end

    async def read(self, stream: anyio.abc.ByteReceiveStream, into: list[str]) -> None:
        buffer = b""
        async for chunk in stream:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            into.extend(line.decode("utf-8", "replace") for line in complete)
            self._wake()
        if buffer:
            into.append(buffer.decode("utf-8", "replace"))
        self._ended += 1
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def line(self, matches: Callable[[str], bool], *, stdout: bool = False) -> str:
        """Wait (30 s at most) for a line of stderr (or stdout) that ``matches``."""
        lines = self.stdout if stdout else self.stderr
        with anyio.fail_after(30):
            seen = 0
            while True:
                changed = self._changed
                for text in lines[seen:]:
                    if matches(text):
                        return text
                seen = len(lines)
                if self._ended == 2:
                    raise AssertionError("the process ended:\n" + "\n".join(self.stderr))
                await changed.wait()

    async def stop(self, sent: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sent`` and wait (30 s at most) for the exit code."""
        self.process.send_signal(sent)
        with anyio.fail_after(30):
            return await self.process.wait()


@asynccontextmanager
async def bridge_process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Running]:
    """`bridge ARGS` running while the block lasts; killed if it outlives it."""
    process = await anyio.open_process([BRIDGE, *args], env=env or clean_env())
    running = Running(process)
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        # Reaped first: once it is killed, the readers see the end of both streams.
        async with anyio.create_task_group() as tg, reaped(process):
            tg.start_soon(running.read, process.stdout, running.stdout)
            tg.start_soon(running.read, process.stderr, running.stderr)
            try:
                yield running
            except BaseException:
                # Shown by pytest with the failure: what the child said until then.
                print("\n".join(["--- bridge stderr:", *running.stderr]))
                raise
    finally:
        await process.aclose()
