"""The user's message as the model is given it, when the message carries media.

A Turn with media (``Turn.parts``) reaches the model when it is answered, not when it
arrives: the door must ACK fast and cannot fail on a download, while a ``downloadCode``
is temporary, so ``MediaReader.user_message`` fetches the pictures as the answer starts:

- **a model that sees** (``[llm] vision = true``): each picture is fetched through the
  platform (``bridge.dingtalk.media``) and shown as an image part, in its place among the
  text; up to ``[media] max_pictures`` per message, fetched side by side, the rest stay
  ``[图片]``. A picture that cannot be fetched (DingTalk refused the code, the host is
  not allowed, too large, too slow, not a picture) becomes ``[图片无法下载]`` and one
  log line: the answer goes on;
- **a model that does not see**, or a picture without a code (an AI action carries
  none): the model reads ``[图片]``, and the user is told ``[media] picture_note`` in
  front of the answer, once per conversation (remembered by this process, for the last
  ``REMEMBERED`` conversations; a restart or another instance says it once more);
- files and videos are placeholders naming them; voice arrives as its recognized text.

The history keeps ``Turn.text`` (text and placeholders), never a picture's bytes.
``noticed`` puts the note in front of the model's answer stream.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio

from bridge.config_media import MediaConfig
from bridge.core.events import LLMEvent, TextDelta
from bridge.dingtalk.media import Picture
from bridge.errors import MediaError, PlatformError
from bridge.llm.messages import ChatMessage, ContentPart, ImagePart
from bridge.turn import Media, MediaKind, Turn

__all__ = [
    "PICTURE_FAILED",
    "REMEMBERED",
    "FetchPicture",
    "MediaReader",
    "ReadUser",
    "UserMessage",
    "noticed",
    "text_only",
]

log = logging.getLogger(__name__)

PICTURE_FAILED = "[图片无法下载]"
"""What the model reads where a picture could not be fetched."""

REMEMBERED = 100_000
"""Conversations whose picture note is remembered; the oldest is forgotten past it."""

FetchPicture = Callable[[str, str | None], Awaitable[Picture]]
"""The picture of a ``downloadCode`` received by a robot code: ``MediaFetcher.picture``."""


@dataclass(frozen=True, slots=True)
class UserMessage:
    """The user's message for the model, and a notice to show in front of the answer."""

    message: ChatMessage
    notice: str | None = None


ReadUser = Callable[[Turn], Awaitable[UserMessage]]
"""How an assistant turns a Turn into the user's message (``AssistantRuntime.read_user``)."""


async def text_only(turn: Turn) -> UserMessage:
    """The Turn's text as it is (placeholders included); nothing is fetched, nothing said."""
    return UserMessage(ChatMessage.user(turn.text))


class MediaReader:
    """Reads Turns for one assistant: fetches pictures for a model that sees (module doc).

    ``fetch`` is None when nothing may be fetched (then every picture is unseen).
    """

    def __init__(self, fetch: FetchPicture | None, config: MediaConfig, *, vision: bool) -> None:
        self._fetch = fetch
        self._config = config
        self._vision = vision
        self._noted: OrderedDict[str, None] = OrderedDict()

    async def user_message(self, turn: Turn) -> UserMessage:
        """The user's message for ``turn``, its pictures fetched or replaced (module doc)."""
        if not turn.parts:
            return UserMessage(ChatMessage.user(turn.text))
        pieces: list[ContentPart] = []
        wanted: list[tuple[int, str]] = []  # (index in pieces, download code)
        unseen = False
        for part in turn.parts:
            if isinstance(part, str) or part.kind is not MediaKind.PICTURE:
                pieces.append(part if isinstance(part, str) else part.placeholder)
                continue
            code = self._code(part)
            if code is None:
                unseen = True
            elif len(wanted) < self._config.max_pictures:
                wanted.append((len(pieces), code))
            pieces.append(part.placeholder)
        if wanted:
            await self._fill(pieces, wanted, turn.handles.robot_code)
        notice = self._notice(turn) if unseen else None
        return UserMessage(ChatMessage.user_parts(tuple(pieces)), notice)

    def _code(self, picture: Media) -> str | None:
        """The code to fetch ``picture`` with, or None when the model will not see it."""
        if not self._vision or self._fetch is None:
            return None
        return picture.download_code

    async def _fill(
        self, pieces: list[ContentPart], wanted: list[tuple[int, str]], robot: str | None
    ) -> None:
        """Fetch the pictures side by side, each into its place in ``pieces``."""

        async def one(index: int, code: str) -> None:
            pieces[index] = await self._picture(code, robot)

        async with anyio.create_task_group() as tg:
            for index, code in wanted:
                tg.start_soon(one, index, code)

    async def _picture(self, code: str, robot: str | None) -> ContentPart:
        assert self._fetch is not None, "only called when fetching is possible"
        try:
            picture = await self._fetch(code, robot)
        except (MediaError, PlatformError) as exc:
            log.warning("picture not fetched, the model reads %s: %s", PICTURE_FAILED, exc)
            return PICTURE_FAILED
        log.info("picture fetched: %s, %d bytes", picture.media_type, len(picture.data))
        return ImagePart(picture.media_type, picture.data)

    def _notice(self, turn: Turn) -> str | None:
        """The picture note, the first time a conversation sends an unseen picture."""
        key = f"{turn.assistant}/{turn.conversation_key}"
        if key in self._noted:
            self._noted.move_to_end(key)
            return None
        self._noted[key] = None
        if len(self._noted) > REMEMBERED:
            self._noted.popitem(last=False)
        return self._config.picture_note


AnswerStream = AbstractAsyncContextManager[AsyncIterator[LLMEvent]]


@asynccontextmanager
async def noticed(notice: str, stream: AnswerStream) -> AsyncIterator[AsyncIterator[LLMEvent]]:
    """``stream`` with ``notice`` (and a blank line) in front of the model's text."""
    async with stream as events:
        prefixed = _after(notice, events)
        try:
            yield prefixed
        finally:
            await prefixed.aclose()  # suspended at a yield, if at all: no await inside


async def _after(notice: str, events: AsyncIterator[LLMEvent]) -> AsyncGenerator[LLMEvent, None]:
    yield TextDelta(f"{notice}\n\n")
    async for event in events:
        yield event
