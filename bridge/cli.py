"""The ``bridge`` command line: the user's surface (design.md §5).

Each command is a thin shell: it reads options, builds what it needs, runs it with
``anyio.run`` and turns a ``BridgeError`` into one clear line on stderr and the exit code
of its branch (``bridge.errors.ExitCode``, through ``bridge.console.run_reporting``).
Tracebacks are for bugs, not for bad input. Long-running commands (serve, emulator, dev)
stop on SIGTERM with exit code 0 and on Ctrl-C with 130, in order and without tracebacks.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
import anyio.abc
import typer

from bridge.bench.command import bench
from bridge.config import Config, load_config
from bridge.config_text import config_to_text
from bridge.console import (
    LogFormatOption,
    exit_code_for,
    run_reporting,
    setup_logging,
    signal_name,
    stop_signals,
)
from bridge.doctor import doctor
from bridge.errors import ExitCode
from bridge.sandbox.command import dev
from bridge.startup import check_startup, summary

if TYPE_CHECKING:
    from bridge.emulator.state import Emulator

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


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="The TOML configuration file.")],
) -> None:
    """Validate FILE as `bridge serve` would at start-up; print it resolved, secrets masked.

    Every check that needs no network runs (bridge.startup): assistants, prompt templates
    and their variables, empty secrets, model URLs, reply hosts, the state folder.
    """
    config = run_reporting(lambda: _load_checked(file))
    typer.echo(config_to_text(config), nl=False)
    typer.echo(f"# {file}: OK", err=True)


def _load_checked(file: Path) -> Config:
    """Load ``file`` and run the start-up checks on it, naming it in any error."""
    config = load_config(file, os.environ)
    check_startup(config, source=str(file))
    return config


ConfigFile = Annotated[
    Path, typer.Option("--config", "-c", help="The TOML configuration file.", exists=False)
]


@app.command()
def serve(config: ConfigFile, verbose: Verbose = False, log_format: LogFormatOption = None) -> None:
    """Run the service: Stream mode and/or HTTP callbacks, the push API, /healthz.

    At start-up: the checks of `config check`, then each assistant's credentials (wrong
    ones stop it, exit 3) and each model endpoint (unreachable: a warning). SIGTERM or
    Ctrl-C stops intake, lets replies in flight finish within [serve] grace_period and
    closes any still open; a second signal closes them at once. Exit code 0 after
    SIGTERM, 130 after Ctrl-C.
    """
    loaded = run_reporting(lambda: _load_checked(config))
    setup_logging(verbose, log_format or loaded.serve.log_format)
    received = run_reporting(lambda: anyio.run(_serve, loaded))
    raise typer.Exit(int(exit_code_for(received)))


async def _serve(config: Config) -> int | None:
    """Run the service until a signal; returns the signal (None if it ended by itself)."""
    from bridge.app import Bridge
    from bridge.preflight import preflight
    from bridge.serving import bind

    log = logging.getLogger("bridge")
    running: list[Bridge] = []
    received: list[int] = []
    service = anyio.CancelScope()

    async def stop_on_signal(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        # Installed before start-up: a signal while starting (recovery of open messages
        # included) ends it cleanly, not by killing the process outright.
        with stop_signals() as signals:
            task_status.started()
            async for signal_number in signals:
                name = signal_name(signal_number)
                if received or not running:
                    log.info("%s: closing every reply now", name)
                    service.cancel()
                else:
                    log.info("%s: stopping intake, finishing replies in flight", name)
                    running[0].stop()
                received.append(signal_number)

    async def announce(bridge: Bridge) -> None:
        await bridge.serving.wait()
        log.info("%s", summary(config, http_url=bridge.http_url))

    async with anyio.create_task_group() as tg:
        await tg.start(stop_on_signal)
        with service:
            if config.serve.http and config.serve.port:
                bind(config.serve.host, config.serve.port).close()  # taken: fail before all
            await preflight(config, os.environ)
            async with Bridge(config, os.environ) as bridge:
                running.append(bridge)
                tg.start_soon(announce, bridge)
                await bridge.serve()
        tg.cancel_scope.cancel()
    return received[0] if received else None


@app.command()
def send(
    config: ConfigFile,
    to: Annotated[str, typer.Option("--to", help="user:<unionId> or group:<openConversationId>")],
    prompt: Annotated[str, typer.Argument(help="What to ask the model.")],
    assistant: Annotated[
        str | None, typer.Option(help="Which [[assistants]] entry (default: the first).")
    ] = None,
    verbose: Verbose = False,
    log_format: LogFormatOption = None,
) -> None:
    """Run PROMPT and stream the answer to a user or a group (proactive mode)."""
    loaded = run_reporting(lambda: _load_checked(config))
    setup_logging(verbose, log_format or loaded.serve.log_format)
    result = run_reporting(lambda: anyio.run(_send, loaded, assistant, to, prompt))
    if not result:
        raise typer.Exit(int(ExitCode.PLATFORM))


async def _send(config: Config, assistant: str | None, to: str, prompt: str) -> bool:
    from bridge.app import Bridge
    from bridge.state import Role

    no_doors = config.model_copy(
        update={"serve": config.serve.model_copy(update={"stream": False, "http": False})}
    )
    name = assistant or config.assistants[0].name
    config.assistant(name)  # an unknown name is a ConfigError before anything starts
    async with Bridge(no_doors, os.environ, role=Role.SEND) as bridge:
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
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Print a bridge config for the emulator already running at HOST:PORT "
            "(creating the card template it names there) and exit.",
        ),
    ] = False,
    verbose: Verbose = False,
    log_format: LogFormatOption = None,
) -> None:
    """Run the local DingTalk emulator (OpenAPI, webhooks, simulated model, control API).

    Runs until SIGTERM (exit 0) or Ctrl-C (exit 130). With --print-config it serves
    nothing: it prints a complete bridge config for the running emulator
    (`bridge emulator --print-config > bridge.toml`, then `bridge serve --config
    bridge.toml`).
    """
    if print_config:
        _print_emulator_config(host, port)
        return
    from bridge.emulator.state import Emulator

    setup_logging(verbose, log_format or "text")
    world = Emulator.with_defaults()
    received = run_reporting(lambda: anyio.run(_emulate, world, host, port))
    raise typer.Exit(int(exit_code_for(received)))


def _print_emulator_config(host: str, port: int) -> None:
    """``bridge emulator --print-config``: one config on stdout, or one error line."""
    import httpx2

    from bridge.emulator.errors import EmulatorError
    from bridge.emulator.printed_config import fetch_config_text
    from bridge.sandbox.runner import find_prompts_dir

    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{reachable}:{port}"
    try:
        text = anyio.run(partial(fetch_config_text, url, prompts_dir=find_prompts_dir()))
    except (httpx2.HTTPError, ValueError, EmulatorError) as exc:
        typer.echo(
            f"error: no emulator answers at {url} ({exc}); start `bridge emulator` first, "
            "with the same --host and --port",
            err=True,
        )
        raise typer.Exit(int(ExitCode.FAILURE)) from None
    typer.echo(text, nl=False)


async def _emulate(world: Emulator, host: str, port: int) -> int:
    """Serve ``world`` until SIGINT or SIGTERM; returns the signal."""
    from bridge.emulator.server import running_emulator

    with stop_signals() as signals:
        async with running_emulator(world, host=host, port=port) as running:
            typer.echo(f"DingTalk emulator on {running.base_url}  (control API: /_emulator/)")
            async for received in signals:
                logging.getLogger("bridge.emulator").info(
                    "%s: stopping the emulator", signal_name(received)
                )
                return received
    raise AssertionError("the signal receiver ended")  # pragma: no cover


# Commands that live with their feature, registered here so `bridge --help` lists them.
app.command()(bench)
app.command()(dev)
app.command()(doctor)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
