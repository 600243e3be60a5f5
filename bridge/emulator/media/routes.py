"""Routes of the emulator's media: the control API and the storage host's downloads.

Control (JSON; errors ``{"error": …}``)
  ``POST /_emulator/media?name=photo.png``    the body is the medium's bytes, its
                                             ``Content-Type`` its type → 201 ``MediaView``
  ``GET  /_emulator/media``                   → ``{"media": [MediaView…]}``, samples first
  ``GET  /_emulator/media/{id}``              → ``MediaView`` (with its download count)
  ``GET  /_emulator/media/{id}/content``      the bytes, for the sandbox page
Storage (what a download URL points to, on the emulator's own host)
  ``GET  /media-files/{id}?Expires=…&OSSAccessKeyId=…&Signature=…``  the bytes, while the
                                             signature and expiry hold; else 403 with an
                                             OSS-style XML error (``SignatureDoesNotMatch``,
                                             ``AccessDenied``), 404 ``NoSuchKey``

A GET of a download URL that carries a ``Content-Type`` or ``Authorization`` header is
refused 403 ``SignatureDoesNotMatch``, as peers saw (§12): the signature covers the
content type, which a pre-signed GET leaves empty.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.emulator.errors import EmulatorError
from bridge.emulator.media.library import MAX_BYTES, STORAGE_PATH
from bridge.emulator.state import Emulator

PREFIX = "/_emulator/media"

_STATUS = {"SignatureDoesNotMatch": 403, "AccessDenied": 403, "NoSuchKey": 404}
_MESSAGES = {
    "SignatureDoesNotMatch": "The request signature we calculated does not match the "
    "signature you provided.",
    "AccessDenied": "Request has expired.",
    "NoSuchKey": "The specified key does not exist.",
}


def media_routes(emulator: Emulator) -> list[BaseRoute]:
    """The control routes under ``/_emulator/media`` and the storage route."""

    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BYTES:
            raise EmulatorError(f"a medium holds at most {MAX_BYTES} bytes", status=413)
        item = emulator.media.add(
            await request.body(),
            request.headers.get("content-type", "").split(";")[0].strip(),
            request.query_params.get("name", ""),
        )
        return JSONResponse(item.view().model_dump(mode="json"), status_code=201)

    async def listing(request: Request) -> Response:
        views = [i.view().model_dump(mode="json") for i in emulator.media.all()]
        return JSONResponse({"media": views})

    async def one(request: Request) -> Response:
        item = emulator.media.item(request.path_params["media_id"])
        return JSONResponse(item.view().model_dump(mode="json"))

    async def content(request: Request) -> Response:
        item = emulator.media.item(request.path_params["media_id"])
        return Response(item.data, media_type=item.content_type)

    async def storage(request: Request) -> Response:
        media_id = request.path_params["media_id"]
        query = request.query_params
        refused = emulator.media.check(
            media_id, query.get("Expires", ""), query.get("Signature", "")
        )
        if refused is None and (
            "content-type" in request.headers or "authorization" in request.headers
        ):
            refused = "SignatureDoesNotMatch"
        if refused is not None:
            return _oss_error(refused)
        item = emulator.media.served(media_id)
        return Response(item.data, media_type=item.content_type)

    return [
        Route(PREFIX, _control(upload), methods=["POST"]),
        Route(PREFIX, _control(listing), methods=["GET"]),
        Route(PREFIX + "/{media_id}", _control(one), methods=["GET"]),
        Route(PREFIX + "/{media_id}/content", _control(content), methods=["GET"]),
        Route(STORAGE_PATH + "/{media_id}", storage, methods=["GET"]),
    ]


def _control(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A control endpoint: an ``EmulatorError`` is ``{"error": …}`` with its status."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except EmulatorError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)

    return endpoint


def _oss_error(code: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{_MESSAGES[code]}</Message>"
        "<HostId>emulator</HostId></Error>"
    )
    return Response(body, status_code=_STATUS[code], media_type="application/xml")
