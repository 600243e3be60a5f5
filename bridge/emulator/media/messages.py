"""A user's message of any type (§11): its pieces, what the chat shows, what the bot gets.

The control API says what a user sends as a ``msgtype`` with its media (ids in the
media library) and text; ``content_of`` turns that into a ``UserContent`` of pieces.
From it ``shown_text`` is the line a conversation list shows ("[图片]"), and, once the
platform has issued a download code per medium, ``chatbot_content`` renders the
ChatbotMessage's ``msgtype`` and ``content`` exactly as the contract's samples do:

    {"msgtype":"picture","content":{"downloadCode":"…"}}
    {"msgtype":"richText","content":{"richText":[{"text":"…"},
        {"type":"picture","downloadCode":"…","pictureDownloadCode":"…"}]}}
    {"msgtype":"audio","content":{"downloadCode":"…","duration":4000,"recognition":"…"}}
    {"msgtype":"video","content":{"downloadCode":"…","duration":4000,"videoType":"mp4"}}
    {"msgtype":"file","content":{"downloadCode":"…","fileName":"…"}}

An AI-assistant action carries no download code: ``action_input`` gives its
``rawInput`` (the text; a voice message's recognition; nothing for a picture, video or
file) and the ``inputAttribute`` a YAML mapping ``currentInput/attribute`` would add,
``{"msgType": "picture"|"file"}``, for those media only (text actions keep the seven
parameters of the official example).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.emulator.control.views import MsgType, PieceView, RichItem
from bridge.emulator.errors import EmulatorError
from bridge.emulator.media.library import MediaLibrary

__all__ = ["DEFAULT_DURATION_MS", "UserContent", "action_input", "chatbot_content", "content_of"]

DEFAULT_DURATION_MS = 4000
"""A voice message's or video's length when the caller gives none (the doc's sample)."""

_LABELS = {"picture": "[图片]", "audio": "[语音]", "video": "[视频]", "file": "[文件]"}


@dataclass(frozen=True, slots=True)
class UserContent:
    """What a user sends: its ``msgtype`` and, for any other than text, its pieces."""

    msgtype: MsgType = "text"
    pieces: tuple[PieceView, ...] = ()

    @property
    def media(self) -> tuple[PieceView, ...]:
        """The pieces that are media (each gets a download code), in order."""
        return tuple(p for p in self.pieces if p.media_id is not None)

    def shown_text(self, text: str) -> str:
        """What a chat list shows for the message; ``text`` is what was typed."""
        if self.msgtype == "text":
            return text
        shown = [p.text if p.kind == "text" else _label(p) for p in self.pieces]
        return "".join(shown)

    def mentioning(self, mention: str) -> UserContent:
        """A rich text with ``mention`` put in front of its first text (the @ picker's way)."""
        pieces = list(self.pieces)
        if pieces and pieces[0].kind == "text":
            pieces[0] = pieces[0].model_copy(update={"text": f"{mention} {pieces[0].text}"})
        else:
            pieces.insert(0, PieceView(kind="text", text=f"{mention} "))
        return UserContent(self.msgtype, tuple(pieces))


def _label(piece: PieceView) -> str:
    label = _LABELS[piece.kind]
    if piece.kind == "audio" and piece.text:
        return f"{label} {piece.text}"
    if piece.kind == "file":
        return f"{label} {piece.name}"
    return label


def content_of(
    msgtype: MsgType,
    *,
    text: str,
    media_id: str | None,
    rich_text: Sequence[RichItem],
    duration_ms: int | None,
    library: MediaLibrary,
) -> UserContent:
    """The content of a message of ``msgtype`` (a 400 ``EmulatorError`` when incomplete).

    ``text`` is a voice message's recognition; ``media_id`` the medium of a picture,
    voice, video or file message; ``rich_text`` the items of a rich text.
    """
    if msgtype == "text":
        return UserContent()
    if msgtype == "richText":
        if not rich_text:
            raise EmulatorError("a richText message needs rich_text items")
        return UserContent("richText", tuple(_rich_piece(i, library) for i in rich_text))
    if media_id is None:
        raise EmulatorError(f"a {msgtype} message needs a media_id")
    item = library.item(media_id)
    timed = msgtype in ("audio", "video")
    piece = PieceView(
        kind=msgtype,
        text=text if msgtype == "audio" else "",
        media_id=media_id,
        name=item.name,
        duration_ms=(duration_ms or DEFAULT_DURATION_MS) if timed else None,
    )
    return UserContent(msgtype, (piece,))


def _rich_piece(item: RichItem, library: MediaLibrary) -> PieceView:
    if (item.text is None) == (item.media_id is None):
        raise EmulatorError("a rich_text item holds either text or a media_id")
    if item.media_id is None:
        return PieceView(kind="text", text=item.text or "")
    return PieceView(kind="picture", media_id=item.media_id, name=library.item(item.media_id).name)


def chatbot_content(
    content: UserContent, codes: Sequence[str], robot_text: Callable[[str], str]
) -> dict[str, Any]:
    """``msgtype`` and ``content`` of the ChatbotMessage; ``codes`` follow ``content.media``.

    ``robot_text`` takes the robot's own @name out of a text, as DingTalk does (§11).
    """
    issued = iter(codes)
    if content.msgtype == "richText":
        items: list[dict[str, Any]] = []
        for piece in content.pieces:
            if piece.kind == "text":
                items.append({"text": robot_text(piece.text)})
            else:
                code = next(issued)
                items.append({"type": "picture", "downloadCode": code, "pictureDownloadCode": code})
        return {"msgtype": "richText", "content": {"richText": items}}
    [piece] = content.pieces
    body: dict[str, Any] = {"downloadCode": next(issued)}
    if piece.kind == "audio":
        body.update(duration=piece.duration_ms, recognition=piece.text)
    elif piece.kind == "video":
        body.update(duration=piece.duration_ms, videoType=_extension(piece.name) or "mp4")
    elif piece.kind == "file":
        body["fileName"] = piece.name
    return {"msgtype": content.msgtype, "content": body}


def action_input(content: UserContent, text: str) -> dict[str, str]:
    """``rawInput`` (and ``inputAttribute`` for a picture or file) of an action."""
    if content.msgtype == "text":
        return {"rawInput": text}
    if content.msgtype == "richText":
        return {"rawInput": "".join(p.text for p in content.pieces if p.kind == "text")}
    if content.msgtype == "audio":
        return {"rawInput": content.pieces[0].text}
    kind = "picture" if content.msgtype == "picture" else "file"
    return {"rawInput": "", "inputAttribute": json.dumps({"msgType": kind})}


def _extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""
