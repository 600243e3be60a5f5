"""One-shot surfaces: one finished message, no streaming.

- ``ai_webhook``: the AI assistant's sessionWebhook, a markdown card (§5 H);
- ``robot_webhook``: the robot's sessionWebhook, a markdown message that mentions the
  asker in groups (§5 G);
- ``robot_send``: robot ``groupMessages/send`` or ``oToMessages/batchSend`` (§4 K, L),
  which need only the robot code and work long after any webhook expired. They have no
  @-mentions, so a group answer sent this way names nobody.

They serve short answers and are the last resort when a streaming message could not be
opened or closed: the user still gets the whole answer, once. Nothing of theirs is ever
left open, so their kinds (declared above each class) have no ``recover``.
"""

from __future__ import annotations

from bridge.delivery.surface import KindedSurface, LiveMessage, Surface, SurfaceDeps, SurfaceKind
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.wire import At, Markdown
from bridge.turn import ConversationType, Turn

TITLE_CHARS = 24
WEBHOOK_MARGIN = 5.0  # seconds: a webhook about to expire is not worth starting on


def markdown_title(text: str) -> str:
    """A notification title: the first non-empty line, without markdown marks, shortened."""
    for line in text.splitlines():
        stripped = line.strip().lstrip("#>*-` ").strip()
        if stripped:
            return stripped[:TITLE_CHARS]
    return "回复"


class _OneShot(KindedSurface):
    """Base of the surfaces that cannot stream; the relay checks ``can_stream`` first."""

    async def open(self) -> LiveMessage:
        raise RuntimeError(f"{self.name} cannot stream: use send_once")


def _serves_ai_webhook(turn: Turn, now: float) -> bool:
    hook = turn.handles.ai_webhook
    return hook is not None and hook.usable(now, margin=WEBHOOK_MARGIN)


def _build_ai_webhook(deps: SurfaceDeps, turn: Turn) -> Surface:
    assert turn.handles.ai_webhook is not None, "built only for a Turn it serves"
    return AiWebhookSurface(deps.client, turn.handles.ai_webhook.url)


AI_WEBHOOK = SurfaceKind(
    name="ai_webhook", serves=_serves_ai_webhook, build=_build_ai_webhook, streams=False
)


class AiWebhookSurface(_OneShot):
    """``ai_webhook``: answer through the AI assistant's sessionWebhook."""

    kind = AI_WEBHOOK

    def __init__(self, client: DingTalkClient, url: str) -> None:
        self._client = client
        self._url = url

    async def send_once(self, text: str) -> None:
        await self._client.ai_webhook(self._url, text)


def _serves_robot_webhook(turn: Turn, now: float) -> bool:
    hook = turn.handles.robot_webhook
    return hook is not None and hook.usable(now, margin=WEBHOOK_MARGIN)


def _build_robot_webhook(deps: SurfaceDeps, turn: Turn) -> Surface:
    handles = turn.handles
    assert handles.robot_webhook is not None, "built only for a Turn it serves"
    # In a group the answer mentions the asker, or nobody can tell whom it answers.
    group = turn.conversation_type is ConversationType.GROUP
    mention = handles.staff_id if group else None
    return RobotWebhookSurface(deps.client, handles.robot_webhook.url, mention=mention)


ROBOT_WEBHOOK = SurfaceKind(
    name="robot_webhook", serves=_serves_robot_webhook, build=_build_robot_webhook, streams=False
)


class RobotWebhookSurface(_OneShot):
    """``robot_webhook``: answer through the robot's sessionWebhook, mentioning the asker."""

    kind = ROBOT_WEBHOOK

    def __init__(self, client: DingTalkClient, url: str, *, mention: str | None) -> None:
        self._client = client
        self._url = url
        self._mention = mention

    async def send_once(self, text: str) -> None:
        at = At(user_ids=(self._mention,)) if self._mention else None
        await self._client.robot_webhook(
            self._url, Markdown(title=markdown_title(text), text=text), at=at
        )


def _serves_robot_send(turn: Turn, now: float) -> bool:
    handles = turn.handles
    if turn.conversation_type is ConversationType.MAGIC_WAND or not handles.robot_code:
        return False  # proactive sends cannot reach the magic wand (dingtalk-api.md §7)
    if turn.conversation_type is ConversationType.GROUP:
        return handles.open_conversation_id is not None
    return handles.staff_id is not None


def _build_robot_send(deps: SurfaceDeps, turn: Turn) -> Surface:
    handles = turn.handles
    robot_code = handles.robot_code or deps.assistant.robot
    if turn.conversation_type is ConversationType.GROUP:
        return RobotSendSurface(
            deps.client, robot_code=robot_code, open_conversation_id=handles.open_conversation_id
        )
    return RobotSendSurface(deps.client, robot_code=robot_code, staff_id=handles.staff_id)


ROBOT_SEND = SurfaceKind(
    name="robot_send", serves=_serves_robot_send, build=_build_robot_send, streams=False
)


class RobotSendSurface(_OneShot):
    """``robot_send``: a robot message to a group, or to one user's single chat."""

    kind = ROBOT_SEND

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
