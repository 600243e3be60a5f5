"""The ``bridge`` command line: the user's surface (design.md §5).

Each command is a thin shell: it reads options, builds what it needs, runs it with
``anyio.run`` and turns a ``BridgeError`` into one clear line on stderr and the exit code
of its branch (``bridge.errors.ExitCode``). Tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import anyio
import anyio.abc
import typer

from bridge.bench.command import bench
from bridge.config import Config, load_config
from bridge.config_text import config_to_text
from bridge.console import LogFormat, run_reporting, setup_logging
from bridge.errors import ExitCode
from bridge.sandbox.command import dev

app = typer.Typer(
    name="bridge",
    help="Put an LLM behind a DingTalk AI assistant, shown as a live typewriter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect and validate configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option("--log-format", help="Log lines as text, or as JSON objects for collectors."),
]


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="The TOML configuration file.")],
) -> None:
    """Validate FILE and print the resolved configuration, secrets masked."""
    config = run_reporting(lambda: load_config(file, os.environ))
    typer.echo(config_to_text(config), nl=False)
    typer.echo(f"# {file}: OK", err=True)


ConfigFile = Annotated[
    Path, typer.Option("--config", "-c", help="The TOML configuration file.", exists=False)
]


@app.command()
def serve(
    config: ConfigFile, verbose: Verbose = False, log_format: LogFormatOption = "text"
) -> None:
    """Run the service: Stream mode and/or HTTP callbacks, the push API, /healthz.

    SIGTERM (or Ctrl-C) stops intake, lets replies in flight finish within
    [serve] grace_period, and closes any that are still open.
    """
    setup_logging(verbose, log_format)
    loaded = run_reporting(lambda: load_config(config, os.environ))
    run_reporting(lambda: anyio.run(_serve, loaded))


async def _serve(config: Config) -> None:
    from bridge.app import Bridge

    log = logging.getLogger("bridge")
    running: list[Bridge] = []
    starting = anyio.CancelScope()

    async def stop_on_signal(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        # Installed before the bridge starts: a SIGTERM during start-up (recovery of
        # open messages included) must end it cleanly, not kill the process outright.
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for received in signals:
                name = signal.Signals(received).name
                if running:
                    log.info("%s: stopping intake, finishing replies in flight", name)
                    running[0].stop()
                else:
                    log.info("%s during start-up: stopping", name)
                    starting.cancel()
                return

    async with anyio.create_task_group() as tg:
        await tg.start(stop_on_signal)
        with starting:
            async with Bridge(config, os.environ) as bridge:
                running.append(bridge)
                await bridge.serve()
        tg.cancel_scope.cancel()


@app.command()
def send(
    config: ConfigFile,
    to: Annotated[str, typer.Option("--to", help="user:<unionId> or group:<openConversationId>")],
    prompt: Annotated[str, typer.Argument(help="What to ask the model.")],
    assistant: Annotated[
        str | None, typer.Option(help="Which [[assistants]] entry (default: the first).")
    ] = None,
    verbose: Verbose = False,
    log_format: LogFormatOption = "text",
) -> None:
    """Run PROMPT and stream the answer to a user or a group (proactive mode)."""
    setup_logging(verbose, log_format)
    loaded = run_reporting(lambda: load_config(config, os.environ))
    result = run_reporting(lambda: anyio.run(_send, loaded, assistant, to, prompt))
    if not result:
        raise typer.Exit(int(ExitCode.PLATFORM))


async def _send(config: Config, assistant: str | None, to: str, prompt: str) -> bool:
    from bridge.app import Bridge

    no_doors = config.model_copy(
        update={"serve": config.serve.model_copy(update={"stream": False, "http": False})}
    )
    async with Bridge(no_doors, os.environ) as bridge:
        name = assistant or config.assistants[0].name
        result = await bridge.send(name, to, prompt)
    if result is None:
        typer.echo(f"error: no surface of {name} can reach {to}", err=True)
        return False
    shown = "delivered" if result.ok else "failed"
    typer.echo(f"{shown} via {result.surface}: {len(result.text)} characters", err=True)
    return result.ok


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    verbose: Verbose = False,
) -> None:
    """Run the local DingTalk emulator (OpenAPI, webhooks, simulated model, control API)."""
    from bridge.emulator.server import serve
    from bridge.emulator.state import Emulator

    setup_logging(verbose)
    world = Emulator.with_defaults()
    typer.echo(f"DingTalk emulator on http://{host}:{port}  (control API: /_emulator/)")
    run_reporting(lambda: anyio.run(serve, world, host, port))


# Commands that live with their feature, registered here so `bridge --help` lists them.
app.command()(bench)
app.command()(dev)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
