"""The sandbox chat page, served by the emulator at ``/`` (``bridge dev`` opens it).

The page is plain HTML, CSS and JavaScript in ``static/`` (no build step, no vendored
libraries): it reads the world through the control API, sends the user's messages with
``POST /_emulator/inbound`` and follows ``GET /_emulator/events`` (server-sent events)
to show each reply as a DingTalk user would see it, every API call as it happens, and
per-reply figures. Its controls drive ``/_emulator/faults`` and ``/_emulator/model/…``,
and a streaming AI card's "停止" presses its stop button (``/_emulator/cards/…/press``).
This module only serves the files; all behaviour lives in the control API and the page.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from bridge.emulator.state import Emulator

STATIC = Path(__file__).resolve().parent / "static"
"""The page's files (shipped as package data)."""

# The page changes with the package, never between two loads of one version; still, a
# developer editing it wants a reload to show the edit.
_NO_CACHE = {"Cache-Control": "no-cache"}


class _Static(StaticFiles):
    """StaticFiles that asks browsers to revalidate every time."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_NO_CACHE)
        return response


def page_routes(emulator: Emulator) -> list[BaseRoute]:
    """``GET /`` (the chat page) and ``/static/…`` (its scripts and styles)."""
    del emulator  # the page talks to the emulator through the control API only

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_NO_CACHE)

    return [
        Route("/", index, methods=["GET"]),
        Mount("/static", app=_Static(directory=STATIC), name="static"),
    ]
