"""The ticket endpoint's answer format: JSON only for a client that asks for JSON.

DingTalk's gateway (``POST /v1.0/gateway/connections/open``) answers XML unless the
request says ``Accept: application/json``: the official Node SDK sends that header with
the comment "这个接口得加个，否则默认返回的会是xml" (this endpoint needs it, otherwise the
default answer is XML), and the Python and Java SDKs send it too. A client that forgets
it cannot read its ticket, so the emulator does the same and such a client fails here
exactly as it would against the platform.

Which XML DingTalk sends is not documented. The emulator renders the same fields as the
JSON answer, one element per key under a root element (``OpenConnectionResponse``, or
``Error`` for a refusal), with ``Content-Type: text/xml``; only "it is not JSON" is
meant to be faithful, not the element names.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

XML_TYPE = "text/xml;charset=utf-8"


def wants_json(request: Request) -> bool:
    """True when an ``Accept`` header names ``application/json`` (``*/*`` does not)."""
    accept = request.headers.get("accept", "")
    media = (part.split(";")[0].strip().lower() for part in accept.split(","))
    return "application/json" in media


def to_xml(root: str, fields: dict[str, Any]) -> str:
    """``fields`` as ``<root><key>value</key>…</root>``; nested values become JSON text."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><{root}>']
    for key, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"<{key}>{escape(text)}</{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def negotiated(request: Request, response: Response) -> Response:
    """``response`` (a JSON answer) as is for a JSON client, else re-rendered as XML."""
    if wants_json(request):
        return response
    payload = json.loads(bytes(response.body))
    fields = payload if isinstance(payload, dict) else {"body": payload}
    root = "OpenConnectionResponse" if response.status_code < 400 else "Error"
    headers = {k: v for k, v in response.headers.items() if k.lower() == "x-acs-request-id"}
    return Response(
        to_xml(root, fields),
        status_code=response.status_code,
        media_type=XML_TYPE,
        headers=headers,
    )
