"""The probe routes: ``GET /healthz``, ``/readyz`` and ``/metrics``.

Served by ``bridge serve``'s HTTP doors (``bridge.inbound.http``: no authentication, not
counted against the doors' request limit, on ``[serve] host`` like every door) and by
the sandbox (``bridge dev``, on the chat page's port):

- ``/healthz``: 200 and the liveness counters (``Report.health``);
- ``/readyz``: 200 when ready, else 503, both with ``{"status", "reasons", "checks"}``
  (``Report.readiness``);
- ``/metrics``: every metric in Prometheus's text format (``Metrics.exposition``).

``probe_routes`` reads its ``Probes`` through a callable at each request, so a server can
listen before the service behind it exists (the sandbox starts the emulator first):
until then every probe answers 503 ``{"error": "starting"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.observe.metrics import CONTENT_TYPE
from bridge.observe.report import Readiness

__all__ = ["PROBE_PATHS", "Probes", "probe_routes"]

PROBE_PATHS = ("/healthz", "/readyz", "/metrics")
"""The probes' paths: a request limit must never hold them back."""


@dataclass(frozen=True, slots=True)
class Probes:
    """What the probes answer from; ``None`` leaves a probe out (404)."""

    health: Callable[[], dict[str, Any]]
    readiness: Callable[[], Readiness] | None = None
    metrics: Callable[[], bytes] | None = None


def probe_routes(source: Callable[[], Probes | None]) -> list[Route]:
    """The three GET routes, answering from ``source()`` (None: not started yet)."""

    def starting() -> Response:
        return JSONResponse({"error": "starting"}, status_code=503)

    async def healthz(request: Request) -> Response:
        probes = source()
        if probes is None:
            return starting()
        return JSONResponse({"status": "ok", **probes.health()})

    async def readyz(request: Request) -> Response:
        probes = source()
        if probes is None:
            return starting()
        if probes.readiness is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        readiness = probes.readiness()
        return JSONResponse(readiness.body(), status_code=200 if readiness.ready else 503)

    async def metrics(request: Request) -> Response:
        probes = source()
        if probes is None:
            return starting()
        if probes.metrics is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(probes.metrics(), media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
