"""The media the emulated users send, their download codes and their pre-signed URLs (§12).

``MediaLibrary`` holds every medium by id: the built-in samples (``samples``) and
whatever a test or the sandbox page uploads. When a message carries a medium, the
platform gives the bot a temporary **download code** for it (``issue``), tied to the
robot that received the message; the download API (``openapi.files``) exchanges a live
code for a **pre-signed URL** on the emulator's own host (``signed_url``), like the
``http://…aliyuncs.com/…?Expires=…&Signature=…`` links DingTalk hands out, and the
storage route (``routes``) serves the bytes only while the URL's signature and expiry
hold (``check``). Lifetimes are undocumented on the platform ("temporary"); here both
are ``CODE_LIFETIME`` and ``URL_LIFETIME`` seconds of the emulated clock. Nothing here
knows HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from bridge.emulator.control.views import MediaView
from bridge.emulator.errors import EmulatorError, not_found
from bridge.emulator.media.samples import SAMPLES
from bridge.emulator.world.clock import EmulatorClock

__all__ = ["CODE_LIFETIME", "URL_LIFETIME", "DownloadCode", "MediaItem", "MediaLibrary"]

CODE_LIFETIME = 3600.0
"""Seconds a download code can be exchanged for a URL."""

URL_LIFETIME = 3600.0
"""Seconds a download URL serves its medium (its ``Expires``)."""

STORAGE_PATH = "/media-files"
"""Where the emulator serves media bytes, as a storage host would."""

MAX_BYTES = 64 * 1024 * 1024
"""The largest medium the control API accepts."""


@dataclass
class MediaItem:
    """One medium: its bytes, type and name, and how often its URL served it."""

    id: str
    name: str
    content_type: str
    data: bytes
    sample: bool = False
    downloads: int = 0

    def view(self) -> MediaView:
        """The control-API shape (no bytes: ``GET /_emulator/media/{id}/content``)."""
        return MediaView(
            id=self.id,
            name=self.name,
            content_type=self.content_type,
            size=len(self.data),
            sha256=hashlib.sha256(self.data).hexdigest(),
            sample=self.sample,
            downloads=self.downloads,
        )


@dataclass(frozen=True, slots=True)
class DownloadCode:
    """A temporary download code: the medium, the robot it was given to, its expiry."""

    value: str
    media_id: str
    robot_code: str
    expires_at: float


class MediaLibrary:
    """Media by id, the codes issued for them, and the signing of their URLs."""

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._ids = itertools.count(1)
        self._items: dict[str, MediaItem] = {}
        self._codes: dict[str, DownloadCode] = {}
        for media_id, (name, draw) in SAMPLES.items():
            self._items[media_id] = MediaItem(media_id, name, "image/png", draw(), sample=True)

    # -- media --------------------------------------------------------------------------

    def add(self, data: bytes, content_type: str, name: str) -> MediaItem:
        """Keep ``data`` as a new medium; returns it."""
        if not data:
            raise EmulatorError("a medium needs some bytes")
        if len(data) > MAX_BYTES:
            raise EmulatorError(f"a medium holds at most {MAX_BYTES} bytes", status=413)
        media_id = f"m{next(self._ids):04d}{secrets.token_hex(3)}"
        item = MediaItem(
            media_id, name or media_id, content_type or "application/octet-stream", data
        )
        self._items[media_id] = item
        return item

    def item(self, media_id: str) -> MediaItem:
        """The medium with this id."""
        try:
            return self._items[media_id]
        except KeyError:
            raise not_found("medium", media_id) from None

    def all(self) -> list[MediaItem]:
        """Every medium, samples first."""
        return list(self._items.values())

    # -- codes and URLs -----------------------------------------------------------------

    def issue(self, media_id: str, robot_code: str) -> str:
        """A fresh download code of ``media_id`` for the robot ``robot_code``."""
        self.item(media_id)
        code = DownloadCode(
            value=base64.b64encode(secrets.token_bytes(24)).decode("ascii"),
            media_id=media_id,
            robot_code=robot_code,
            expires_at=self._clock.now() + CODE_LIFETIME,
        )
        self._codes[code.value] = code
        return code.value

    def code(self, value: str) -> DownloadCode | None:
        """The live download code ``value``; None when unknown or expired."""
        code = self._codes.get(value)
        if code is None or code.expires_at <= self._clock.now():
            return None
        return code

    def signed_url(self, media_id: str, base_url: str) -> str:
        """A URL that serves ``media_id`` from ``base_url`` until it expires."""
        expires = int(self._clock.now() + URL_LIFETIME)
        signature = quote(self._signature(media_id, expires), safe="")
        return (
            f"{base_url.rstrip('/')}{STORAGE_PATH}/{media_id}"
            f"?Expires={expires}&OSSAccessKeyId=emulator&Signature={signature}"
        )

    def check(self, media_id: str, expires: str, signature: str) -> str | None:
        """Why a GET of ``media_id`` with this query fails (an OSS error code), or None."""
        if not expires.isdigit() or not hmac.compare_digest(
            signature, self._signature(media_id, int(expires))
        ):
            return "SignatureDoesNotMatch"
        if int(expires) <= self._clock.now():
            return "AccessDenied"
        if media_id not in self._items:
            return "NoSuchKey"
        return None

    def served(self, media_id: str) -> MediaItem:
        """Count one download of ``media_id`` and return it."""
        item = self.item(media_id)
        item.downloads += 1
        return item

    def _signature(self, media_id: str, expires: int) -> str:
        message = f"GET\n{media_id}\n{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")
