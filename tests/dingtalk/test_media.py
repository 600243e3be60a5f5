"""Message media: which download URLs are fetched, and how a picture's GET is bounded.

The GET runs against a real local server (uvicorn on 127.0.0.1) serving pictures the
ways a storage host might, and the ways a hostile or broken one would.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from bridge.config_media import MediaConfig
from bridge.dingtalk.media import (
    MediaFetcher,
    download_body,
    parse_download_url,
    picture_type,
    url_allowed,
)
from bridge.errors import MediaError, PlatformUnavailable
from bridge.serving import running_server

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
DEFAULTS = MediaConfig()


@pytest.mark.parametrize(
    "url",
    [
        "http://wukong-123.oss-cn-hangzhou.aliyuncs.com/x.png?Expires=1&Signature=a",
        "https://static.dingtalk.com/media/x.jpg",
        "HTTPS://Static.DingTalk.com/x",
    ],
)
def test_the_documented_hosts_are_allowed_by_default(url: str) -> None:
    """DingTalk's and Alibaba Cloud's hosts pass, over http (the doc's sample) or https."""
    assert url_allowed(url, DEFAULTS) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://evil.example/x.png", "host evil.example is not on"),
        ("http://aliyuncs.com.evil.example/x", "is not on"),
        ("http://evilaliyuncs.com/x", "is not on"),
        ("http://x.aliyuncs.com:8080/x", "host x.aliyuncs.com:8080 is not on"),
        ("http://user:pw@x.aliyuncs.com/x", "carries credentials"),
        ("ftp://x.aliyuncs.com/x", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("http://x.aliyuncs.com/a b", "whitespace"),
        ("http:///x", "names no host"),
        ("http://x.aliyuncs.com:99999/x", "cannot be read"),
    ],
)
def test_anything_else_is_refused_with_the_reason(url: str, reason: str) -> None:
    """Other hosts, ports, schemes, userinfo and odd characters are refused, and why."""
    refused = url_allowed(url, DEFAULTS)
    assert refused is not None
    assert reason in refused


def test_https_only_refuses_plain_http() -> None:
    """https_only = true: the same host over http is refused."""
    config = MediaConfig(https_only=True)
    assert url_allowed("https://x.aliyuncs.com/p", config) is None
    assert "https_only" in (url_allowed("http://x.aliyuncs.com/p", config) or "")


def test_a_host_with_a_port_must_be_listed_with_it() -> None:
    """An explicit port needs host:port on the list (the emulator's case)."""
    config = MediaConfig(allowed_hosts=("127.0.0.1:8765",))
    assert url_allowed("http://127.0.0.1:8765/media/x", config) is None
    assert url_allowed("http://127.0.0.1:8766/media/x", config) is not None
    assert url_allowed("http://127.0.0.1/media/x", config) is not None


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"<html>not a picture</html>", None),
        (b"", None),
    ],
)
def test_pictures_are_recognised_by_their_first_bytes(data: bytes, media_type: str | None) -> None:
    """PNG, JPEG, GIF and WebP are known by their signatures; anything else is not."""
    assert picture_type(data) == media_type


def test_the_download_request_and_answer() -> None:
    """Both fields go in the body; an answer without downloadUrl is a broken answer."""
    assert download_body("code", "robot") == {"downloadCode": "code", "robotCode": "robot"}
    assert parse_download_url({"downloadUrl": "http://x/y"}) == "http://x/y"
    with pytest.raises(PlatformUnavailable, match="no downloadUrl"):
        parse_download_url({"url": "http://x/y"})


# ---------------------------------------------------------------------------- the GET

seen_headers: list[dict[str, str]] = []


async def _picture(request: Request) -> Response:
    seen_headers.append(dict(request.headers))
    return Response(PNG, media_type="application/octet-stream")


async def _chunked(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"\x89PNG\r\n\x1a\n" + b"\x00" * 1016  # 1 KiB each, no Content-Length

    return StreamingResponse(body(), media_type="image/png")


async def _slow(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield PNG
        await anyio.sleep(30)

    return StreamingResponse(body(), media_type="image/png")


APP = Starlette(
    routes=[
        Route("/picture.png", _picture),
        Route("/big.png", lambda r: Response(PNG + b"\x00" * 4096, media_type="image/png")),
        Route("/chunked.png", _chunked),
        Route("/slow.png", _slow),
        Route("/missing.png", lambda r: Response("gone", status_code=403)),
        Route("/page.html", lambda r: Response("<html></html>", media_type="text/html")),
        Route(
            "/gzip.png",
            lambda r: Response(
                gzip.compress(PNG), media_type="image/png", headers={"Content-Encoding": "gzip"}
            ),
        ),
        Route("/redirect.png", lambda r: RedirectResponse("/picture.png")),
    ]
)


@pytest.fixture
async def storage() -> AsyncIterator[str]:
    """A storage host on loopback; its base URL."""
    async with running_server(APP) as url:
        yield url


def fetcher(http: httpx2.AsyncClient, storage: str, **limits: object) -> MediaFetcher:
    """A fetcher whose every download code is the path of the same name on ``storage``."""
    host = storage.removeprefix("http://")
    config = MediaConfig(allowed_hosts=(host,), **limits)  # type: ignore[arg-type]

    async def file_url(code: str, robot_code: str | None) -> str:
        return f"{storage}/{code}"

    return MediaFetcher(file_url, http, config)


@pytest.mark.anyio
async def test_a_picture_is_fetched_with_no_header_of_bridge_s_own(
    http: httpx2.AsyncClient, storage: str
) -> None:
    """The exact bytes come back typed by their signature; no auth, no Content-Type sent."""
    seen_headers.clear()
    picture = await fetcher(http, storage).picture("picture.png", None)
    assert picture.data == PNG
    assert picture.media_type == "image/png"
    [headers] = seen_headers
    assert "content-type" not in headers
    assert "authorization" not in headers
    assert not any(name.startswith("x-acs-") for name in headers)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("big.png", "over [media] max_bytes 2048"),
        ("chunked.png", "over [media] max_bytes 2048"),
        ("missing.png", "answered HTTP 403"),
        ("page.html", "not a PNG, JPEG, GIF or WebP"),
        ("gzip.png", "gzip-encoded"),
        ("redirect.png", "answered HTTP 307"),
    ],
)
async def test_what_is_not_a_picture_within_the_limits_is_refused(
    http: httpx2.AsyncClient, storage: str, code: str, reason: str
) -> None:
    """Too large (declared or streamed), refused, not a picture, encoded, redirected."""
    with pytest.raises(MediaError) as refused:
        await fetcher(http, storage, max_bytes=2048).picture(code, None)
    assert reason in refused.value.message


@pytest.mark.anyio
async def test_a_host_that_stalls_is_given_up_after_the_timeout(
    http: httpx2.AsyncClient, storage: str
) -> None:
    """A body that stops coming ends in a MediaError after [media] timeout."""
    with pytest.raises(MediaError, match=r"within 0\.3 s"):
        await fetcher(http, storage, timeout=0.3).picture("slow.png", None)


@pytest.mark.anyio
async def test_a_url_off_the_allow_list_is_never_requested(http: httpx2.AsyncClient) -> None:
    """The host is checked before any connection is made."""

    async def file_url(code: str, robot_code: str | None) -> str:
        return "http://127.0.0.1:9/never"  # the discard port: a request would fail otherwise

    media = MediaFetcher(file_url, http, MediaConfig())
    with pytest.raises(MediaError, match="not on \\[media\\] allowed_hosts"):
        await media.picture("code", None)
