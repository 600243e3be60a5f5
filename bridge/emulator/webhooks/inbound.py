"""What the platform hands the bridge when a user speaks: one typed value, two wire forms.

``Inbound`` is built by ``Emulator.inbound`` and rendered here into the two payloads of
the contract: the ChatbotMessage of the bot topic and HTTP callback (§6.3) and the
AI-assistant action parameters of the official example YAML (§6.5). The control API
returns both, and ``dispatch`` delivers them over the Stream gateway or as signed HTTP
callbacks. A message of another type than text (a picture, rich text, voice, video or
file) is rendered by ``media.messages``, with the download codes issued for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bridge.emulator.control.views import InboundView
from bridge.emulator.media.messages import UserContent, action_input, chatbot_content
from bridge.emulator.openapi.apps import App
from bridge.emulator.webhooks.sessions import Session
from bridge.emulator.world.transcript import Conversation, Message, User

CORP_ID = "dingemulatorcorp0000"

_NAME_GOES_ON = r"(?![A-Za-z0-9_])"
"""After an @name: "@Bridge Dev 你好" mentions Bridge Dev, "@Bridge Developer" does not."""


def _mention(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(f"@{name}") + _NAME_GOES_ON)


def typed_text(text: str, bot_name: str, *, mentions_bot: bool) -> str:
    """What a user typed: a message that @-mentions the bot holds "@<bot name>".

    The DingTalk client's @ picker inserts the name; when a caller of the control API
    gave only the words (``"你好"``), the mention goes in front, as the picker puts it.
    """
    if not mentions_bot or _mention(bot_name).search(text):
        return text
    return f"@{bot_name} {text}"


def dingtalk_id(key: str) -> str:
    """The opaque ``$:LWCP_v1:$…`` id DingTalk uses for people and bots."""
    return f"$:LWCP_v1:${key}"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One user message to an app, with every reply handle the platform issued for it.

    ``conversation_token`` is empty when the app is a plain robot (only AI assistants get
    reply-mode tokens and action parameters). ``mentioned``: in a group, whether the
    message @-mentions the bot (``isInAtList``, the bot in ``atUsers``).

    ``text`` is what the user typed (``typed_text``). The robot's ChatbotMessage carries
    it as the platform does (§11): the robot's own @name removed from ``text.content``,
    the space after it kept (" 你好"), other @names left as plain text; the AI-assistant
    action's ``rawInput`` is the raw input, mention included.

    ``content`` is a message of another type than text, with one download code per
    medium in ``codes`` (issued for the app's robot).
    """

    app: App
    conversation: Conversation
    sender: User
    message: Message
    text: str
    created_at_ms: int
    robot_session: Session
    ai_session: Session | None
    conversation_token: str
    base_url: str
    mentioned: bool = True
    content: UserContent = field(default_factory=UserContent)
    codes: tuple[str, ...] = ()

    @property
    def mentions_bot(self) -> bool:
        """True for a group message that @-mentions the bot (the only kind delivered)."""
        return self.conversation.type == "group" and self.mentioned

    def robot_text(self) -> str:
        """``text.content`` of the ChatbotMessage: the bot's own @name taken out (§11)."""
        return self._without_own_name(self.text)

    def _without_own_name(self, text: str) -> str:
        if not self.mentions_bot:
            return text
        return _mention(self.app.name).sub("", text)

    def chatbot_message(self) -> dict[str, Any]:
        """The ChatbotMessage (§6.3) of the bot topic and the HTTP callback."""
        group = self.conversation.type == "group"
        message: dict[str, Any] = {
            "conversationId": self.conversation.id,
            "conversationType": "2" if group else "1",
            "chatbotCorpId": CORP_ID,
            "chatbotUserId": dingtalk_id(f"bot-{self.app.client_id}"),
            "robotCode": self.app.robot_code,
            "msgId": self.message.id,
            "createAt": self.created_at_ms,
            "senderId": dingtalk_id(self.sender.user_id),
            "senderStaffId": self.sender.user_id,
            "senderUnionId": self.sender.union_id,
            "senderNick": self.sender.nick,
            "senderCorpId": CORP_ID,
            "isAdmin": False,
            "isInAtList": self.mentions_bot,
            "sessionWebhook": self.robot_session.url(self.base_url),
            "sessionWebhookExpiredTime": int(self.robot_session.expires_at * 1000),
        }
        if self.content.msgtype == "text":
            message.update(msgtype="text", text={"content": self.robot_text()})
        else:
            message.update(chatbot_content(self.content, self.codes, self._without_own_name))
        if group:
            message["conversationTitle"] = self.conversation.title
            bot = {"dingtalkId": dingtalk_id(f"bot-{self.app.client_id}")}
            message["atUsers"] = [bot] if self.mentioned else []
        return message

    def action_params(self) -> dict[str, str]:
        """The AI-assistant action parameters (§6.5), empty for a plain robot."""
        if self.ai_session is None:
            return {}
        return {
            **action_input(self.content, self.text),
            "userId": self.sender.user_id,
            "unionId": self.sender.union_id,
            "corpId": CORP_ID,
            "openConversationId": self.conversation.open_conversation_id,
            "conversationToken": self.conversation_token,
            "sessionWebhook": self.ai_session.url(self.base_url),
        }

    def view(self) -> InboundView:
        """The control-API shape."""
        return InboundView(
            message=self.message.view(),
            chatbot_message=self.chatbot_message(),
            action=self.action_params(),
        )
