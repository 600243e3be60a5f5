"""``bridge dev``: the local sandbox, one command (run by ``make dev``).

It starts the emulator (DingTalk, Stream gateway, simulated model, the chat page) and a
production ``Bridge`` wired to it through Stream mode and the real openai client (see
``runner.running_sandbox``), prints where the chat page is, and runs until Ctrl-C or
SIGTERM. Then it stops in order: intake first, replies in flight get a short grace period
and are closed (the emulator still up to receive the close), then the emulator. A second
signal closes the replies at once. Exit code 130 after Ctrl-C, 0 after SIGTERM; a port in
use, or a bad ``--config``, is one ``error:`` line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import anyio
import typer

from bridge.config import Config, load_config
from bridge.console import (
    LogFormatOption,
    exit_code_for,
    run_reporting,
    setup_logging,
    signal_name,
    stop_signals,
)

log = logging.getLogger("bridge.dev")


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
    log_format: LogFormatOption = None,
) -> None:
    """The local sandbox: emulated DingTalk + simulated model + bridge, and a chat page.

    Set OPENAI_BASE_URL / OPENAI_API_KEY (and OPENAI_MODEL), or give --config with an
    llm table, to answer with a real model instead of the simulated one.
    """
    env = dict(os.environ)
    base = run_reporting(lambda: load_config(config, env)) if config is not None else None
    setup_logging(verbose, log_format or (base.serve.log_format if base else "text"))
    received = run_reporting(lambda: anyio.run(_dev, host, port, env, base))
    log.info("bridge dev: stopped")
    raise typer.Exit(int(exit_code_for(received)))


async def _dev(host: str, port: int, env: dict[str, str], base: Config | None) -> int | None:
    """Run the sandbox until a signal; returns it (None if the sandbox ended by itself)."""
    from bridge.sandbox.runner import running_sandbox

    ready, stop = anyio.Event(), anyio.Event()
    received: list[int] = []

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
                        f"  metrics      {sandbox.url}metrics  (health: /healthz, /readyz)",
                        "  Ctrl-C stops everything.",
                        "",
                    ]
                )
            )
            ready.set()
            await stop.wait()

    with stop_signals() as signals:
        async with anyio.create_task_group() as tg:

            async def sandbox() -> None:
                await run()
                tg.cancel_scope.cancel()  # ended by itself: stop listening for signals

            tg.start_soon(sandbox)
            async for signal_number in signals:
                name = signal_name(signal_number)
                if received or not ready.is_set():
                    # Still starting, or asked twice: nothing to wait for, unwind now
                    # (every open message is still closed, shielded and bounded).
                    log.info("%s: stopping now", name)
                    tg.cancel_scope.cancel()
                else:
                    log.info("%s: stopping (replies in flight finish first)", name)
                    stop.set()
                received.append(signal_number)
    return received[0] if received else None
