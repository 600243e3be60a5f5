"""The DingTalk operations bridge uses, named once for the client and the emulator.

An ``Operation`` is the shared name of one API of the wire contract
(``shared/dingtalk-api.md`` §0). The client keys its rate budget, retries and errors
by it; the emulator keys its call log, faults and QPS limits by it. ``ENDPOINTS``
says where each one lives and whether repeating it is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Operation(StrEnum):
    """One DingTalk API, by the name used in logs, faults and the call log."""

    ACCESS_TOKEN = "oauth2.accessToken"
    AI_REPLY = "aiInteraction.reply"
    AI_PREPARE = "aiInteraction.prepare"
    AI_UPDATE = "aiInteraction.update"
    AI_FINISH = "aiInteraction.finish"
    AI_SEND = "aiInteraction.send"
    ROBOT_WEBHOOK = "robot.sendBySession"
    AI_WEBHOOK = "agent.send"
    CARD_CREATE = "card.instances.create"
    CARD_UPDATE = "card.instances.update"
    CARD_DELIVER = "card.instances.deliver"
    CARD_CREATE_AND_DELIVER = "card.instances.createAndDeliver"
    CARD_STREAMING = "card.streaming"
    CARD_CALLBACK_REGISTER = "card.callbacks.register"
    ROBOT_OTO_SEND = "robot.oToMessages.batchSend"
    ROBOT_GROUP_SEND = "robot.groupMessages.send"
    ROBOT_FILE_DOWNLOAD = "robot.messageFiles.download"
    GATEWAY_OPEN = "gateway.connections.open"


Host = Literal["api", "oapi", "webhook"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an operation lives and how it may be called.

    ``host`` is ``api`` (api.dingtalk.com), ``oapi`` (oapi.dingtalk.com) or
    ``webhook`` (the URL arrives with the inbound message and is its own credential).
    ``idempotent`` operations may be retried after a 5xx or a lost connection; the
    others may have taken effect already and are never repeated blindly.
    """

    method: Literal["GET", "POST", "PUT"]
    path: str
    host: Host
    authenticated: bool
    idempotent: bool


ENDPOINTS: dict[Operation, Endpoint] = {
    Operation.ACCESS_TOKEN: Endpoint("POST", "/v1.0/oauth2/accessToken", "api", False, True),
    # reply/update carry the full text (isFull: true): sending one twice shows the same.
    Operation.AI_REPLY: Endpoint("POST", "/v1.0/aiInteraction/reply", "api", True, True),
    Operation.AI_PREPARE: Endpoint("POST", "/v1.0/aiInteraction/prepare", "api", True, False),
    Operation.AI_UPDATE: Endpoint("POST", "/v1.0/aiInteraction/update", "api", True, True),
    Operation.AI_FINISH: Endpoint("POST", "/v1.0/aiInteraction/finish", "api", True, True),
    Operation.AI_SEND: Endpoint("POST", "/v1.0/aiInteraction/send", "api", True, False),
    Operation.ROBOT_WEBHOOK: Endpoint("POST", "/robot/sendBySession", "webhook", False, False),
    Operation.AI_WEBHOOK: Endpoint("POST", "/agent/send", "webhook", False, False),
    Operation.CARD_CREATE: Endpoint("POST", "/v1.0/card/instances", "api", True, False),
    Operation.CARD_UPDATE: Endpoint("PUT", "/v1.0/card/instances", "api", True, True),
    Operation.CARD_DELIVER: Endpoint("POST", "/v1.0/card/instances/deliver", "api", True, False),
    Operation.CARD_CREATE_AND_DELIVER: Endpoint(
        "POST", "/v1.0/card/instances/createAndDeliver", "api", True, False
    ),
    # Every streaming call carries a guid that DingTalk uses as its idempotency key.
    Operation.CARD_STREAMING: Endpoint("PUT", "/v1.0/card/streaming", "api", True, True),
    # With forceUpdate the same key and URL give the same registration: safe to repeat.
    Operation.CARD_CALLBACK_REGISTER: Endpoint(
        "POST", "/v1.0/card/callbacks/register", "api", True, True
    ),
    Operation.ROBOT_OTO_SEND: Endpoint(
        "POST", "/v1.0/robot/oToMessages/batchSend", "api", True, False
    ),
    Operation.ROBOT_GROUP_SEND: Endpoint(
        "POST", "/v1.0/robot/groupMessages/send", "api", True, False
    ),
    # The download URL of a message's media (§12): asking twice only reads.
    Operation.ROBOT_FILE_DOWNLOAD: Endpoint(
        "POST", "/v1.0/robot/messageFiles/download", "api", True, True
    ),
    Operation.GATEWAY_OPEN: Endpoint("POST", "/v1.0/gateway/connections/open", "api", False, False),
}


def operation_for(method: str, path: str) -> Operation | None:
    """The operation served at ``method path`` (the emulator's router uses this)."""
    for operation, endpoint in ENDPOINTS.items():
        if endpoint.method == method.upper() and endpoint.path == path:
            return operation
    return None
