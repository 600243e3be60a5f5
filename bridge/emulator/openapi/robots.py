"""Robot sends (contract §4 K and L): a robot messaging users or a group on its own.

``oToMessages/batchSend`` puts one message into each named user's single chat with the
robot (opened on first use, as DingTalk does) and lists the unknown staff ids;
``groupMessages/send`` puts one into a group. Both take a ``msgKey`` and a ``msgParam``
JSON string (at most ``msg_param_bytes``), and the caller's ``robotCode`` must be its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from bridge.emulator.control.views import LimitsView
from bridge.emulator.errors import bad_request
from bridge.emulator.openapi.apps import App
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.world.content import robot_message_text
from bridge.emulator.world.transcript import MessageState, Transcript


class Robots:
    """Robot sends of the apps."""

    def __init__(self, transcript: Transcript, limits: Callable[[], LimitsView]) -> None:
        self._transcript = transcript
        self._limits = limits

    def batch_send(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """K: the same message to up to 20 users' single chats."""
        self._require_robot(app, body)
        user_ids = body.get("userIds")
        if (
            not isinstance(user_ids, list)
            or not 1 <= len(user_ids) <= 20
            or not all(isinstance(u, str) for u in user_ids)
        ):
            raise bad_request("invalid.param", "userIds must hold 1 to 20 staff ids")
        text = robot_message_text(
            body.get("msgKey"), body.get("msgParam"), self._limits().msg_param_bytes
        )
        invalid = [u for u in user_ids if u not in self._transcript.users]
        for user_id in user_ids:
            if user_id not in invalid:
                conversation = self._transcript.single_chat_with(user_id)
                self._post(app, conversation.id, Api.ROBOT_OTO_SEND, text)
        return {
            "processQueryKey": secrets.token_urlsafe(16),
            "invalidStaffIdList": invalid,
            "flowControlledStaffIdList": [],
            "filteredStaffIdList": [],
        }

    def group_send(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """L: one message into a group the robot is in."""
        self._require_robot(app, body)
        open_id = body.get("openConversationId")
        conversation = self._transcript.by_open_id(open_id) if isinstance(open_id, str) else None
        if conversation is None or conversation.type != "group":
            raise bad_request("invalid.param", "invalid openConversationId")
        text = robot_message_text(
            body.get("msgKey"), body.get("msgParam"), self._limits().msg_param_bytes
        )
        self._post(app, conversation.id, Api.ROBOT_GROUP_SEND, text)
        return {"processQueryKey": secrets.token_urlsafe(16)}

    @staticmethod
    def _require_robot(app: App, body: dict[str, Any]) -> None:
        if body.get("robotCode") != app.robot_code:
            raise bad_request("invalid.param", "robotCode is invalid")

    def _post(self, app: App, conversation_id: str, via: Api, text: str) -> None:
        self._transcript.post(
            conversation_id,
            sender_kind="bot",
            sender_id=app.client_id,
            via=via,
            state=MessageState.FINISHED,
            text=text,
        )
