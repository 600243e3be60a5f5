"""``bridge dev``: for now the emulator alone with its default world."""

from __future__ import annotations

from typing import Annotated

import anyio
import typer


def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the sandbox.")] = 8765,
) -> None:
    """The local sandbox (for now: the emulator with its default world)."""
    from bridge.emulator.server import serve
    from bridge.emulator.state import Emulator

    typer.echo(f"DingTalk emulator on http://{host}:{port}  (control API: /_emulator/)")
    anyio.run(serve, Emulator.with_defaults(), host, port)
