"""Message media from DingTalk: a ``downloadCode`` to a URL to the picture's bytes (§12).

A picture (or a file) a user sends reaches bridge as a temporary ``downloadCode``. Two
steps turn it into bytes:

1. **the URL**: ``POST /v1.0/robot/messageFiles/download`` with ``{"downloadCode",
   "robotCode"}`` answers ``{"downloadUrl"}``. It is an OpenAPI call like any other, so
   it goes through ``DingTalkClient.message_file_url`` (rate budget, retries, the error
   tree); its JSON is built and read here (``download_body``, ``parse_download_url``);
2. **the bytes**: ``MediaFetcher`` GETs that pre-signed URL with no credential and no
   header of its own (an added ``Content-Type`` broke the signature for peers: 403). The
   URL must be ``http(s)`` without userinfo, to a host on ``[media] allowed_hosts``
   (``url_allowed``; plain http unless ``https_only``, see ``bridge.config_media``);
   redirects are not followed; the body is read as it streams and refused once past
   ``max_bytes`` (a ``Content-Length`` over it is refused before reading), and the whole
   GET has ``timeout`` seconds. A compressed body is refused (its size would not be the
   size read). What comes back must be a PNG, JPEG, GIF or WebP picture, recognised by
   its first bytes.

Every refusal is a ``MediaError`` (DingTalk's own refusal of the code is a
``PlatformError``); the caller turns either into a placeholder, never a failed reply.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2

from bridge.config_media import MediaConfig
from bridge.dingtalk.operations import Operation
from bridge.errors import MediaError, PlatformUnavailable

__all__ = [
    "MediaFetcher",
    "Picture",
    "download_body",
    "parse_download_url",
    "picture_type",
    "url_allowed",
]

log = logging.getLogger(__name__)

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True, slots=True)
class Picture:
    """A fetched picture: its media type (from its bytes) and the bytes."""

    media_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"Picture(media_type={self.media_type!r}, {len(self.data)} bytes)"


# ---------------------------------------------------------------------------- wire


def download_body(download_code: str, robot_code: str) -> dict[str, Any]:
    """The request of ``robot.messageFiles.download``: both fields are required."""
    return {"downloadCode": download_code, "robotCode": robot_code}


def parse_download_url(body: Any) -> str:
    """The ``downloadUrl`` of a success answer; a malformed one is ``PlatformUnavailable``."""
    url = body.get("downloadUrl") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url:
        raise PlatformUnavailable(
            "the answer has no downloadUrl", operation=Operation.ROBOT_FILE_DOWNLOAD.value
        )
    return url


# ---------------------------------------------------------------------------- rules


def url_allowed(url: str, config: MediaConfig) -> str | None:
    """Why ``url`` may not be fetched under ``config``, or None when it may."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "the URL holds whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL cannot be read"
    if parts.scheme not in ("https", "http"):
        return f"scheme {parts.scheme or '(none)'!r} is not http(s)"
    if parts.scheme == "http" and config.https_only:
        return "plain http and [media] https_only is set"
    if parts.username is not None or parts.password is not None:
        return "the URL carries credentials"
    host = (parts.hostname or "").lower()
    if not host:
        return "the URL names no host"
    if port is not None:
        allowed = f"{host}:{port}" in config.allowed_hosts
    else:
        allowed = any(
            host == entry or (entry.startswith(".") and host.endswith(entry))
            for entry in config.allowed_hosts
        )
    if not allowed:
        shown = f"{host}:{port}" if port is not None else host
        return f"host {shown} is not on [media] allowed_hosts"
    return None


def picture_type(data: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF or WebP picture from its first bytes, else None."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# ---------------------------------------------------------------------------- fetching

FileUrl = Callable[[str, str | None], Awaitable[str]]
"""The download URL of a ``downloadCode`` for a robot code (None: the app's own):
``DingTalkClient.message_file_url``."""


class MediaFetcher:
    """Fetches the pictures of one robot's messages (see the module docstring).

    ``http`` is the process's shared client (never closed here); ``file_url`` exchanges
    a code for its URL through the DingTalk client.
    """

    def __init__(self, file_url: FileUrl, http: httpx2.AsyncClient, config: MediaConfig) -> None:
        self._file_url = file_url
        self._http = http
        self._config = config

    async def picture(self, download_code: str, robot_code: str | None) -> Picture:
        """The picture behind ``download_code``, received by ``robot_code``.

        ``robot_code`` must be the robot that received the message (None: the app's
        own); failures are ``MediaError`` or ``PlatformError``.
        """
        url = await self._file_url(download_code, robot_code)
        refused = url_allowed(url, self._config)
        if refused is not None:
            raise MediaError(f"download URL refused: {refused}")
        data = await self._get(url)
        media_type = picture_type(data)
        if media_type is None:
            raise MediaError("the download is not a PNG, JPEG, GIF or WebP picture")
        return Picture(media_type, data)

    async def _get(self, url: str) -> bytes:
        """The body of ``url``, at most ``max_bytes``, within ``timeout``."""
        timeout = self._config.timeout
        host = urlsplit(url).hostname
        try:
            with anyio.fail_after(timeout):
                async with self._http.stream(
                    "GET", url, timeout=timeout, follow_redirects=False
                ) as response:
                    return await self._read(response)
        except TimeoutError as exc:
            raise MediaError(f"{host} did not send the picture within {timeout:g} s") from exc
        except httpx2.HTTPError as exc:
            raise MediaError(f"{host}: {type(exc).__name__}") from exc

    async def _read(self, response: httpx2.Response) -> bytes:
        limit = self._config.max_bytes
        host = response.url.host
        if response.status_code != 200:
            raise MediaError(f"{host} answered HTTP {response.status_code}")
        encoding = response.headers.get("content-encoding", "identity").lower()
        if encoding != "identity":
            raise MediaError(f"{host} sent the picture {encoding}-encoded")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise MediaError(f"the picture is {declared} bytes, over [media] max_bytes {limit}")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > limit:
                raise MediaError(f"the picture is over [media] max_bytes {limit}")
        return bytes(body)
