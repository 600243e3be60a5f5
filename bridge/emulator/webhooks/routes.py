"""Starlette routes for the two session webhooks (§5 G and H).

``POST /robot/sendBySession?session=…`` (oapi host) and ``POST /agent/send?session=
aswh_…`` (api host) carry no access token: the session in the URL is the credential.
Both answer HTTP 200 with an ``errcode``, also when they refuse.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.dingtalk.operations import ENDPOINTS, Operation
from bridge.emulator.openapi.pipeline import Caller, answer, by_session
from bridge.emulator.openapi.robots import session_gone
from bridge.emulator.state import Emulator


def _robot(emulator: Emulator, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    if caller.session is None:
        raise session_gone()
    return emulator.robots.send_by_session(caller.session, body)


def _agent(emulator: Emulator, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    if caller.session is None:
        raise session_gone()
    return emulator.robots.agent_send(caller.session, body)


def webhook_routes(emulator: Emulator) -> list[BaseRoute]:
    """The robot and AI-assistant session webhooks."""
    robot = by_session("robot")
    agent = by_session("ai")

    async def send_by_session(request: Request) -> Response:
        return await answer(emulator, request, Operation.ROBOT_WEBHOOK, robot, _robot, "webhook")

    async def agent_send(request: Request) -> Response:
        return await answer(emulator, request, Operation.AI_WEBHOOK, agent, _agent, "webhook")

    return [
        Route(ENDPOINTS[Operation.ROBOT_WEBHOOK].path, send_by_session, methods=["POST"]),
        Route(ENDPOINTS[Operation.AI_WEBHOOK].path, agent_send, methods=["POST"]),
    ]
