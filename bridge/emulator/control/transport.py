"""The HTTP plumbing the emulator's control clients share.

``ControlTransport`` holds an ``httpx2.AsyncClient`` it is given (and never closes:
whoever created the client closes it) and the emulator's base URL. ``_call`` sends one
request to a path under ``/_emulator`` and decodes the JSON answer; a refusal (any 4xx or
5xx) raises ``EmulatorError`` with the control API's status and message. Long polls pass
``wait`` so the HTTP timeout outlives the server-side wait. ``as_body`` turns a view into
a request body.
"""

from __future__ import annotations

from typing import Any

import httpx2
from pydantic import BaseModel

from bridge.emulator.errors import EmulatorError


class ControlTransport:
    """One HTTP client and the ``/_emulator`` base every typed control call goes through."""

    def __init__(self, client: httpx2.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base = f"{base_url.rstrip('/')}/_emulator"

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        wait: float | None = None,
    ) -> Any:
        # A long poll must outlive its own ``wait`` on the client side.
        timeout = self._client.timeout if wait is None else httpx2.Timeout(wait + 10.0)
        response = await self._client.request(
            method, f"{self._base}{path}", json=body, params=params, timeout=timeout
        )
        data = response.json()
        if response.status_code >= 400:
            raise EmulatorError(str(data.get("error", response.text)), status=response.status_code)
        return data


def as_body(view: BaseModel) -> dict[str, Any]:
    """``view`` as a JSON body, validated again first.

    ``model_copy(update=…)`` does not validate, so a copied view may hold a value of
    another type that the field accepts on validation (another ``StrEnum`` naming the
    same API, say); validating the fields again turns it into the field's own type.
    """
    return type(view).model_validate(dict(view)).model_dump(mode="json")


def present(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones left out (None)."""
    return {k: v for k, v in params.items() if v is not None}
