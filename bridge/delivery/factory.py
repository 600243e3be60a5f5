"""Builds the concrete surface for a Turn and a surface name, for one assistant.

The router decides *which* surfaces a Turn can use (``router.can_serve``); this module
turns a name into an object wired to the assistant's DingTalk client, its templates and
the Turn's handles. It also closes messages a previous process left open, from the handle
recorded in the store when they were opened.
"""

from __future__ import annotations

from typing import Any

from bridge.config import AssistantConfig, SurfaceName
from bridge.delivery.ai import AiReplySurface, AiStepwiseSurface, AiTemplate, close_ai_message
from bridge.delivery.card import AiCardSurface, close_card
from bridge.delivery.oneshot import AiWebhookSurface, RobotSendSurface, RobotWebhookSurface
from bridge.delivery.surface import Surface
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.wire import CardSpace, Target
from bridge.turn import ConversationType, Turn


class SurfaceFactory:
    """Surfaces of one assistant."""

    def __init__(self, client: DingTalkClient, assistant: AssistantConfig) -> None:
        self._client = client
        self._assistant = assistant
        delivery = assistant.delivery
        self._ai_template = AiTemplate(delivery.ai_template_id, delivery.ai_template_key)

    def build(self, turn: Turn, name: SurfaceName) -> Surface:
        """The surface ``name`` for ``turn``; the router has checked it can serve."""
        handles = turn.handles
        group = turn.conversation_type is ConversationType.GROUP
        robot_code = handles.robot_code or self._assistant.robot
        match name:
            case "ai_reply":
                assert handles.conversation_token is not None
                return AiReplySurface(self._client, handles.conversation_token, self._ai_template)
            case "ai_stepwise":
                if handles.open_conversation_id:
                    target = Target.conversation(handles.open_conversation_id)
                else:
                    assert handles.union_id is not None
                    target = Target.user(handles.union_id)
                return AiStepwiseSurface(self._client, target, self._ai_template)
            case "ai_card":
                if group:
                    assert handles.conversation_id is not None
                    space = CardSpace.group(handles.conversation_id, robot_code)
                else:
                    assert handles.staff_id is not None
                    space = CardSpace.single(handles.staff_id)
                delivery = self._assistant.delivery
                return AiCardSurface(
                    self._client, space, delivery.card_template_id, delivery.card_template_key
                )
            case "ai_webhook":
                assert handles.ai_webhook is not None
                return AiWebhookSurface(self._client, handles.ai_webhook.url)
            case "robot_webhook":
                assert handles.robot_webhook is not None
                mention = handles.staff_id if group else None
                return RobotWebhookSurface(self._client, handles.robot_webhook.url, mention=mention)
            case "robot_send":
                if group:
                    return RobotSendSurface(
                        self._client,
                        robot_code=robot_code,
                        open_conversation_id=handles.open_conversation_id,
                    )
                return RobotSendSurface(
                    self._client, robot_code=robot_code, staff_id=handles.staff_id
                )

    async def recover(self, surface: str, handle: dict[str, Any], text: str) -> None:
        """Close a message a previous process opened and never closed."""
        if surface in ("ai_reply", "ai_stepwise"):
            await close_ai_message(self._client, surface, handle, text)
        elif surface == "ai_card":
            await close_card(
                self._client, str(handle["out_track_id"]), str(handle["key"]), text, ok=False
            )
        else:
            raise ValueError(f"surface {surface!r} has no open messages to recover")
