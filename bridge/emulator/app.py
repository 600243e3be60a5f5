"""The emulator's ASGI application: every route on one Starlette app.

One server plays every host of the contract, so a client configured with
api_base = oapi_base = the emulator's URL reaches all of it: the OpenAPI (``/v1.0/…``),
both session webhooks, the Stream gateway and its WebSocket, the simulated model
(``/v1/…``), the storage host of media downloads (``/media-files/…``), the control API
(``/_emulator/…``) and the sandbox's chat page (``/``). A host may add routes of its own
in front (the sandbox serves the bridge's ``/healthz``, ``/readyz`` and ``/metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bridge.emulator.control.routes import control_routes
from bridge.emulator.gateway.routes import gateway_routes
from bridge.emulator.media.routes import media_routes
from bridge.emulator.model.routes import model_routes
from bridge.emulator.openapi.routes import openapi_routes
from bridge.emulator.page.routes import page_routes
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.routes import webhook_routes


def create_app(emulator: Emulator, *, extra: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI app serving ``emulator``, with ``extra`` routes matched first."""
    routes = [
        *extra,
        *gateway_routes(emulator),
        *openapi_routes(emulator),
        *webhook_routes(emulator),
        *model_routes(emulator.model),
        # Before the control API's mount of /_emulator, which would take its paths.
        *media_routes(emulator),
        *control_routes(emulator),
        *page_routes(emulator),
    ]
    return Starlette(routes=routes)
