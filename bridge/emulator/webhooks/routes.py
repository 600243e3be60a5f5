"""Starlette routes for the two session webhooks (contract §5 G and H).

``POST /robot/sendBySession?session=…`` (oapi host) and ``POST /agent/send?session=
aswh_…`` (api host) carry no access token: the session in the URL is the credential.
Both are routed from the endpoint table like every platform call and answer HTTP 200
with an ``errcode``, also when they refuse.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.openapi.pipeline import Caller, served
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.sessions import session_gone


def _robot(emulator: Emulator, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    if caller.session is None:
        raise session_gone()
    return emulator.sessions.send_by_session(caller.session, body)


def _agent(emulator: Emulator, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    if caller.session is None:
        raise session_gone()
    return emulator.sessions.agent_send(caller.session, body)


def webhook_routes(emulator: Emulator) -> list[BaseRoute]:
    """The robot and AI-assistant session webhooks."""
    return [served(emulator, Api.ROBOT_WEBHOOK, _robot), served(emulator, Api.AI_WEBHOOK, _agent)]
