"""Starlette routes of the simulated model: the OpenAI-compatible API and its control API.

Model (what bridge talks to, any ``base_url`` ending in ``/v1``)
  ``POST /v1/chat/completions``      streamed (SSE, ``stream_options.include_usage``) or not
  ``GET  /v1/models``                the one model
Control (JSON; errors ``{"error": …}``, 422 with ``details`` for a bad body; typed client
in ``control``)
  ``GET    /_emulator/model``              speed, generator, queue, library, faults
  ``POST   /_emulator/model/reset``        everything back to the defaults
  ``PUT    /_emulator/model/speed``        ``SpeedUpdate`` (fields given are replaced)
  ``PUT    /_emulator/model/generator``    ``GeneratorSpec``
  ``POST   /_emulator/model/scripts``      queue a ``ModelScript``; ``DELETE`` empties the queue
  ``PUT    /_emulator/model/library/{name}``  a ``ModelScript`` for ``[[script=name]]``
  ``POST   /_emulator/model/faults``       install a ``ModelFault``; ``DELETE`` removes all
  ``PUT    /_emulator/model/context``      a ``ContextLimit`` (prompts over it refused);
                                          ``DELETE`` removes it (see ``context``)
  ``POST   /_emulator/model/release``      end every stall now
  ``GET    /_emulator/model/emissions?since=N``  completions after the first N; ``DELETE`` clears

How replies are chosen, directives, timing and faults: see ``script``. Every fault that
fires is logged in one line (``simulated model fault: …``). A ``drop`` raises
``SimulatedDrop`` inside the response, which makes uvicorn abort the connection mid-body;
``quiet_drops`` keeps uvicorn from logging that exception again with a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.emulator.model.context import ContextLimit
from bridge.emulator.model.reply import quiet_drops
from bridge.emulator.model.script import GeneratorSpec, ModelFault, ModelScript, SpeedUpdate
from bridge.emulator.model.simulator import MODEL_ID, ModelSimulator

PREFIX = "/_emulator/model"


def model_routes(simulator: ModelSimulator) -> list[BaseRoute]:
    """Routes for ``POST /v1/chat/completions``, ``GET /v1/models`` and the control API."""
    quiet_drops()

    async def models(request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "bridge-emulator"}
                ],
            }
        )

    async def state(request: Request) -> Any:
        return simulator.state()

    async def reset(request: Request) -> Any:
        simulator.reset()
        return simulator.state()

    async def speed(request: Request) -> Any:
        return simulator.set_speed(await _parse(request, SpeedUpdate))

    async def generator(request: Request) -> Any:
        simulator.set_generator(await _parse(request, GeneratorSpec))
        return simulator.generator

    async def scripts(request: Request) -> Any:
        if request.method == "DELETE":
            simulator.clear_queue()
        else:
            simulator.queue(await _parse(request, ModelScript))
        return {"queued": len(simulator.state().queued)}

    async def library(request: Request) -> Any:
        name = request.path_params["name"]
        simulator.define(name, await _parse(request, ModelScript))
        return {"name": name}

    async def faults(request: Request) -> Any:
        if request.method == "DELETE":
            simulator.clear_faults()
            return {"faults": []}
        fault_id = simulator.add_fault(await _parse(request, ModelFault))
        return {"id": fault_id}

    async def context(request: Request) -> Any:
        if request.method == "DELETE":
            simulator.set_context(None)
            return {"context": None}
        limit = await _parse(request, ContextLimit)
        simulator.set_context(limit)
        return {"context": limit.model_dump(mode="json")}

    async def release(request: Request) -> Any:
        simulator.release_stalls()
        return {"released": True}

    async def emissions(request: Request) -> Any:
        if request.method == "DELETE":
            simulator.clear_emissions()
            return {"emissions": []}
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            return JSONResponse({"error": "since must be a whole number"}, status_code=400)
        views = simulator.emissions(int(since))
        return {"emissions": [v.model_dump(mode="json") for v in views]}

    control = [
        ("", state, ["GET"]),
        ("/reset", reset, ["POST"]),
        ("/speed", speed, ["PUT"]),
        ("/generator", generator, ["PUT"]),
        ("/scripts", scripts, ["POST", "DELETE"]),
        ("/library/{name}", library, ["PUT"]),
        ("/faults", faults, ["POST", "DELETE"]),
        ("/context", context, ["PUT", "DELETE"]),
        ("/release", release, ["POST"]),
        ("/emissions", emissions, ["GET", "DELETE"]),
    ]
    return [
        Route("/v1/chat/completions", simulator.complete, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        *(
            Route(PREFIX + path, _endpoint(handler), methods=methods)
            for path, handler, methods in control
        ),
    ]


_M = TypeVar("_M", bound=BaseModel)


async def _parse(request: Request, model: type[_M]) -> _M:
    return model.model_validate_json(await request.body() or b"{}")


def _endpoint(
    handler: Callable[[Request], Awaitable[Any]],
) -> Callable[[Request], Awaitable[Response]]:
    """JSON out; a body that does not validate is a 422 with the details."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except ValidationError as exc:
            details = json.loads(exc.json(include_url=False, include_input=False))
            return JSONResponse({"error": "invalid body", "details": details}, status_code=422)
        if isinstance(result, Response):
            return result
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return JSONResponse(result)

    return endpoint
