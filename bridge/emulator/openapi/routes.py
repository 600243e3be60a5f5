"""Starlette routes for the api.dingtalk.com operations of the contract (§1, §3, §4).

Each route is one ``Api`` of the emulator's endpoint table (``endpoints.ENDPOINTS``),
which gives its method, path and credential; its work is a method of the emulator's state
and ``pipeline.answer`` does everything around it. The session webhooks and the Stream
gateway's ticket call are routed the same way, from ``webhooks.routes`` and
``gateway.routes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute

from bridge.emulator.errors import bad_request
from bridge.emulator.openapi.apps import App
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.openapi.pipeline import Action, Caller, served
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


ACTIONS: dict[Api, Action] = {
    Api.ACCESS_TOKEN: _access_token,
    Api.AI_REPLY: _with_app(lambda e, a, b: e.ai.reply(a, b)),
    Api.AI_PREPARE: _with_app(lambda e, a, b: e.ai.prepare(a, b)),
    Api.AI_UPDATE: _with_app(lambda e, a, b: e.ai.update(a, b)),
    Api.AI_FINISH: _with_app(lambda e, a, b: e.ai.finish(a, b)),
    Api.AI_SEND: _with_app(lambda e, a, b: e.ai.send(a, b)),
    Api.CARD_CREATE: _with_app(lambda e, a, b: e.cards.create(a, b)),
    Api.CARD_UPDATE: _with_app(lambda e, a, b: e.cards.update(a, b)),
    Api.CARD_DELIVER: _with_app(lambda e, a, b: e.cards.deliver(a, b)),
    Api.CARD_CREATE_AND_DELIVER: _with_app(lambda e, a, b: e.cards.create_and_deliver(a, b)),
    Api.CARD_STREAMING: _with_app(lambda e, a, b: e.cards.stream(a, b)),
    Api.CARD_CALLBACK_REGISTER: _with_app(lambda e, a, b: e.card_routes.register(a, b)),
    Api.ROBOT_OTO_SEND: _with_app(lambda e, a, b: e.robots.batch_send(a, b)),
    Api.ROBOT_GROUP_SEND: _with_app(lambda e, a, b: e.robots.group_send(a, b)),
    Api.ROBOT_FILE_DOWNLOAD: _with_app(lambda e, a, b: e.files.download(a, b)),
}


def openapi_routes(emulator: Emulator) -> list[BaseRoute]:
    """One route per api.dingtalk.com operation (the Stream gateway is in ``gateway``)."""
    return [served(emulator, api, action) for api, action in ACTIONS.items()]
