"""Starlette routes for the api.dingtalk.com operations of the contract (§1, §3, §4).

Each route is one ``Operation``: its path and method come from
``bridge.dingtalk.operations.ENDPOINTS`` (shared with the production client), its caller
is identified by access token (or app key for operation A), and its work is a method of
the emulator's state. ``pipeline.answer`` does everything around it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.dingtalk.operations import ENDPOINTS, Operation
from bridge.emulator.errors import bad_request
from bridge.emulator.openapi.apps import App
from bridge.emulator.openapi.pipeline import (
    Action,
    Caller,
    Identify,
    answer,
    by_access_token,
    by_app_key,
)
from bridge.emulator.state import Emulator


def _access_token(emulator: Emulator, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    del caller
    token = emulator.apps.issue(body.get("appKey"), body.get("appSecret"))
    return {"accessToken": token.value, "expireIn": emulator.apps.expires_in(token)}


Work = Callable[[Emulator, App, dict[str, Any]], dict[str, Any]]


def _with_app(work: Work) -> Action:
    """Adapt ``work(emulator, app, body)`` to an authenticated action."""

    def action(emulator: Emulator, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        app: App | None = caller.app
        if app is None:  # by_access_token always finds one; this guards a wiring mistake
            raise bad_request("InvalidAuthentication", "no app")
        return work(emulator, app, body)

    return action


ACTIONS: dict[Operation, Action] = {
    Operation.ACCESS_TOKEN: _access_token,
    Operation.AI_REPLY: _with_app(lambda e, a, b: e.ai.reply(a, b)),
    Operation.AI_PREPARE: _with_app(lambda e, a, b: e.ai.prepare(a, b)),
    Operation.AI_UPDATE: _with_app(lambda e, a, b: e.ai.update(a, b)),
    Operation.AI_FINISH: _with_app(lambda e, a, b: e.ai.finish(a, b)),
    Operation.AI_SEND: _with_app(lambda e, a, b: e.ai.send(a, b)),
    Operation.CARD_CREATE: _with_app(lambda e, a, b: e.cards.create(a, b)),
    Operation.CARD_UPDATE: _with_app(lambda e, a, b: e.cards.update(a, b)),
    Operation.CARD_DELIVER: _with_app(lambda e, a, b: e.cards.deliver(a, b)),
    Operation.CARD_CREATE_AND_DELIVER: _with_app(lambda e, a, b: e.cards.create_and_deliver(a, b)),
    Operation.CARD_STREAMING: _with_app(lambda e, a, b: e.cards.stream(a, b)),
    Operation.ROBOT_OTO_SEND: _with_app(lambda e, a, b: e.robots.batch_send(a, b)),
    Operation.ROBOT_GROUP_SEND: _with_app(lambda e, a, b: e.robots.group_send(a, b)),
}


def _route(emulator: Emulator, operation: Operation, action: Action) -> Route:
    endpoint = ENDPOINTS[operation]
    identify: Identify = by_access_token if endpoint.authenticated else by_app_key

    async def handle(request: Request) -> Response:
        return await answer(emulator, request, operation, identify, action)

    return Route(endpoint.path, handle, methods=[endpoint.method], name=operation.value)


def openapi_routes(emulator: Emulator) -> list[BaseRoute]:
    """One route per api.dingtalk.com operation (the Stream gateway is in ``gateway``)."""
    return [_route(emulator, operation, action) for operation, action in ACTIONS.items()]
