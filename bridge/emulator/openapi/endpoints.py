"""The emulator's own table of DingTalk endpoints, written from the wire contract (§0).

Every platform request the emulator serves is routed from ``ENDPOINTS``: the OpenAPI
operations, both session webhooks and the Stream gateway's ticket call. The table is the
emulator's reading of ``shared/dingtalk-api.md`` and nothing else, so a client that calls
a wrong path or method gets the 404 or 405 it would get from DingTalk.

An ``Api`` is named as the call log, faults and QPS limits name it
(``"aiInteraction.reply"``). Its ``Endpoint`` says where it lives (method, path, host
kind) and which credential identifies the caller: the
``x-acs-dingtalk-access-token`` header, the app's key and secret in the body (A), its
Client ID and Secret in the body (M), or the session named in a webhook's URL (G, H).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Api(StrEnum):
    """One DingTalk API, by the name the call log, faults and limits use."""

    ACCESS_TOKEN = "oauth2.accessToken"  # A
    AI_REPLY = "aiInteraction.reply"  # B
    AI_PREPARE = "aiInteraction.prepare"  # C
    AI_UPDATE = "aiInteraction.update"  # D
    AI_FINISH = "aiInteraction.finish"  # E
    AI_SEND = "aiInteraction.send"  # F
    ROBOT_WEBHOOK = "robot.sendBySession"  # G
    AI_WEBHOOK = "agent.send"  # H
    CARD_STREAMING = "card.streaming"  # I
    CARD_CREATE = "card.instances.create"  # J
    CARD_UPDATE = "card.instances.update"  # J
    CARD_DELIVER = "card.instances.deliver"  # J
    CARD_CREATE_AND_DELIVER = "card.instances.createAndDeliver"  # J
    CARD_CALLBACK_REGISTER = "card.callbacks.register"  # §13.1
    ROBOT_OTO_SEND = "robot.oToMessages.batchSend"  # K
    ROBOT_GROUP_SEND = "robot.groupMessages.send"  # L
    ROBOT_FILE_DOWNLOAD = "robot.messageFiles.download"  # §12
    GATEWAY_OPEN = "gateway.connections.open"  # M


class Host(StrEnum):
    """Which host serves an endpoint (the emulator plays all of them on one server)."""

    API = "api"  # https://api.dingtalk.com
    OAPI = "oapi"  # https://oapi.dingtalk.com
    WEBHOOK = "webhook"  # a URL handed out with an inbound message; it is its own credential


class Credential(StrEnum):
    """What identifies the caller of an endpoint."""

    ACCESS_TOKEN = "access_token"  # the x-acs-dingtalk-access-token header
    APP_KEY = "app_key"  # appKey and appSecret in the body (A)
    CLIENT_ID = "client_id"  # clientId and clientSecret in the body (M)
    SESSION = "session"  # ?session=… in a session webhook's URL (G, H)


Method = Literal["GET", "POST", "PUT"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an API lives and how its caller is identified."""

    method: Method
    path: str
    host: Host
    credential: Credential

    @property
    def authenticated(self) -> bool:
        """Whether the call needs an access token (and counts against the monthly quota)."""
        return self.credential is Credential.ACCESS_TOKEN


def _api(method: Method, path: str) -> Endpoint:
    """An api.dingtalk.com endpoint called with an access token."""
    return Endpoint(method, path, Host.API, Credential.ACCESS_TOKEN)


ENDPOINTS: dict[Api, Endpoint] = {
    Api.ACCESS_TOKEN: Endpoint("POST", "/v1.0/oauth2/accessToken", Host.API, Credential.APP_KEY),
    Api.AI_REPLY: _api("POST", "/v1.0/aiInteraction/reply"),
    Api.AI_PREPARE: _api("POST", "/v1.0/aiInteraction/prepare"),
    Api.AI_UPDATE: _api("POST", "/v1.0/aiInteraction/update"),
    Api.AI_FINISH: _api("POST", "/v1.0/aiInteraction/finish"),
    Api.AI_SEND: _api("POST", "/v1.0/aiInteraction/send"),
    # G lives on oapi.dingtalk.com, H on api.dingtalk.com; both are handed out as URLs.
    Api.ROBOT_WEBHOOK: Endpoint("POST", "/robot/sendBySession", Host.WEBHOOK, Credential.SESSION),
    Api.AI_WEBHOOK: Endpoint("POST", "/agent/send", Host.WEBHOOK, Credential.SESSION),
    Api.CARD_STREAMING: _api("PUT", "/v1.0/card/streaming"),
    Api.CARD_CREATE: _api("POST", "/v1.0/card/instances"),
    Api.CARD_UPDATE: _api("PUT", "/v1.0/card/instances"),
    Api.CARD_DELIVER: _api("POST", "/v1.0/card/instances/deliver"),
    Api.CARD_CREATE_AND_DELIVER: _api("POST", "/v1.0/card/instances/createAndDeliver"),
    Api.CARD_CALLBACK_REGISTER: _api("POST", "/v1.0/card/callbacks/register"),
    Api.ROBOT_OTO_SEND: _api("POST", "/v1.0/robot/oToMessages/batchSend"),
    Api.ROBOT_GROUP_SEND: _api("POST", "/v1.0/robot/groupMessages/send"),
    Api.ROBOT_FILE_DOWNLOAD: _api("POST", "/v1.0/robot/messageFiles/download"),
    Api.GATEWAY_OPEN: Endpoint(
        "POST", "/v1.0/gateway/connections/open", Host.API, Credential.CLIENT_ID
    ),
}
