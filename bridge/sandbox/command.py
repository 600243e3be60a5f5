"""``bridge dev``: the local sandbox, one command (run by ``make dev``).

It starts the emulator (DingTalk, Stream gateway, simulated model, the chat page) and a
production ``Bridge`` wired to it through Stream mode and the real openai client (see
``runner.running_sandbox``), prints where the chat page is, and runs until Ctrl-C or
SIGTERM, which stop intake, let replies in flight finish briefly and close the rest.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import anyio
import typer

from bridge.config import Config, load_config
from bridge.console import run_reporting, setup_logging
from bridge.errors import BridgeError


def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the sandbox (0 picks a free one).")] = 8765,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="A TOML file whose llm table (a real model) and pacing/delivery to use.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
) -> None:
    """The local sandbox: emulated DingTalk + simulated model + bridge, and a chat page.

    Set OPENAI_BASE_URL / OPENAI_API_KEY (and OPENAI_MODEL), or give --config with an
    llm table, to answer with a real model instead of the simulated one.
    """
    setup_logging(verbose)
    env = dict(os.environ)
    base = run_reporting(lambda: load_config(config, env)) if config is not None else None
    run_reporting(lambda: anyio.run(_dev, host, port, env, base))


async def _dev(host: str, port: int, env: dict[str, str], base: Config | None) -> None:
    from bridge.sandbox.runner import running_sandbox

    ready, stop = anyio.Event(), anyio.Event()

    async def run() -> None:
        async with running_sandbox(host=host, port=port, env=env, base=base) as sandbox:
            typer.echo(
                "\n".join(
                    [
                        "",
                        "bridge dev: the sandbox is up",
                        f"  chat page    {sandbox.url}",
                        f"  model        {sandbox.model.description}",
                        f"  DingTalk     emulated at {sandbox.emulator.base_url}"
                        "  (control API: /_emulator/)",
                        "  Ctrl-C stops everything.",
                        "",
                    ]
                )
            )
            ready.set()
            await stop.wait()

    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                async for received in signals:
                    typer.echo(f"{signal.Signals(received).name}: stopping", err=True)
                    stop.set()
                    if not ready.is_set():
                        # Still starting: nothing to finish, just unwind.
                        tg.cancel_scope.cancel()
                    break
    except BaseExceptionGroup as group:
        # The CLI maps one error to one line; the task group wrapped it.
        if len(group.exceptions) != 1:
            raise
        error = group.exceptions[0]
        if isinstance(error, OSError):
            raise SandboxError(f"cannot start on {host}:{port}: {error.strerror}") from error
        raise error from None
    typer.echo("bridge dev: stopped", err=True)


class SandboxError(BridgeError):
    """The sandbox could not start (e.g. its port is taken)."""
