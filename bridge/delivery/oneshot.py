"""One-shot surfaces: one finished message, no streaming.

- ``ai_webhook``: the AI assistant's sessionWebhook, a markdown card (§5 H);
- ``robot_webhook``: the robot's sessionWebhook, a markdown message that mentions the
  asker in groups (§5 G);
- ``robot_send``: robot ``groupMessages/send`` or ``oToMessages/batchSend`` (§4 K, L),
  which need only the robot code and work long after any webhook expired.

They serve short answers and are the last resort when a streaming message could not be
opened or closed: the user still gets the whole answer, once.
"""

from __future__ import annotations

from bridge.delivery.surface import LiveMessage
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.wire import At, Markdown

TITLE_CHARS = 24


def markdown_title(text: str) -> str:
    """A notification title: the first non-empty line, without markdown marks, shortened."""
    for line in text.splitlines():
        stripped = line.strip().lstrip("#>*-` ").strip()
        if stripped:
            return stripped[:TITLE_CHARS]
    return "回复"


class _OneShot:
    """Base of the surfaces that cannot stream; the relay checks ``can_stream`` first."""

    name = "one-shot"
    can_stream = False

    async def open(self) -> LiveMessage:
        raise RuntimeError(f"{self.name} cannot stream: use send_once")


class AiWebhookSurface(_OneShot):
    """``ai_webhook``: answer through the AI assistant's sessionWebhook."""

    name = "ai_webhook"

    def __init__(self, client: DingTalkClient, url: str) -> None:
        self._client = client
        self._url = url

    async def send_once(self, text: str) -> None:
        await self._client.ai_webhook(self._url, text)


class RobotWebhookSurface(_OneShot):
    """``robot_webhook``: answer through the robot's sessionWebhook, mentioning the asker."""

    name = "robot_webhook"

    def __init__(self, client: DingTalkClient, url: str, *, mention: str | None) -> None:
        self._client = client
        self._url = url
        self._mention = mention

    async def send_once(self, text: str) -> None:
        at = At(user_ids=(self._mention,)) if self._mention else None
        await self._client.robot_webhook(
            self._url, Markdown(title=markdown_title(text), text=text), at=at
        )


class RobotSendSurface(_OneShot):
    """``robot_send``: a robot message to a group, or to one user's single chat."""

    name = "robot_send"

    def __init__(
        self,
        client: DingTalkClient,
        *,
        robot_code: str,
        open_conversation_id: str | None = None,
        staff_id: str | None = None,
    ) -> None:
        if (open_conversation_id is None) == (staff_id is None):
            raise ValueError("give exactly one of open_conversation_id and staff_id")
        self._client = client
        self._robot_code = robot_code
        self._open_conversation_id = open_conversation_id
        self._staff_id = staff_id

    async def send_once(self, text: str) -> None:
        message = Markdown(title=markdown_title(text), text=text)
        if self._open_conversation_id is not None:
            await self._client.robot_group_send(
                self._open_conversation_id, message, robot_code=self._robot_code
            )
        else:
            assert self._staff_id is not None
            await self._client.robot_oto_send(
                (self._staff_id,), message, robot_code=self._robot_code
            )
