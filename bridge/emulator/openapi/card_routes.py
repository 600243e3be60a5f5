"""Where a card's HTTP callbacks go: ``POST /v1.0/card/callbacks/register`` (§13.1).

An app maps a ``callbackRouteKey`` to a public ``callbackUrl``, optionally with an
``apiSecret`` that signs the callbacks (``webhooks.signature.card_sign``). One key maps
to one URL: registering a key again changes nothing unless ``forceUpdate`` is true, and
the answer is always the registration in force, so a caller can see its URL was kept.
A card created with ``callbackType: "HTTP"`` and that key has its button presses posted
there (``webhooks.card_press``). Keys are the app's own: another app's key is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.emulator.errors import bad_request
from bridge.emulator.openapi.apps import App


@dataclass(frozen=True, slots=True)
class CardRoute:
    """One registered route key: the URL its callbacks go to and the secret signing them."""

    client_id: str
    key: str
    url: str
    api_secret: str | None


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"param.{name}", f"{name} is empty")
    return value


class CardRoutes:
    """Every app's card callback routes, by route key."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], CardRoute] = {}

    def register(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """§13.1: map the key to the URL (kept unless ``forceUpdate``); the one in force."""
        key, url = _text(body, "callbackRouteKey"), _text(body, "callbackUrl")
        secret = _text(body, "apiSecret") if body.get("apiSecret") is not None else None
        force = body.get("forceUpdate", False)
        if not url.startswith(("http://", "https://")):
            raise bad_request("param.callbackUrl", "callbackUrl must be an http(s) URL")
        if not isinstance(force, bool):
            raise bad_request("param.forceUpdate", "forceUpdate must be a boolean")
        route = self._routes.get((app.client_id, key))
        if route is None or force:
            route = CardRoute(app.client_id, key, url, secret)
            self._routes[(app.client_id, key)] = route
        return {
            "success": True,
            "result": {"callbackUrl": route.url, "apiSecret": route.api_secret or ""},
        }

    def route(self, client_id: str, key: str) -> CardRoute | None:
        """The route registered by ``client_id`` for ``key``, if any."""
        return self._routes.get((client_id, key))
