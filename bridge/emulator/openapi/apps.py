"""Registered apps and their access tokens (operation A and every authenticated call).

An app is an AI assistant or a chat robot with a Client ID and Secret. Asking for a token
while one is valid returns the same token and extends its life; after expiry a new one is
issued. Authenticated calls resolve their token here; the errors are the platform's.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bridge.emulator.control.views import AppKind, AppView, LimitsView
from bridge.emulator.errors import EmulatorError, Rejection, bad_request, not_found
from bridge.emulator.world.clock import EmulatorClock


@dataclass
class App:
    """A DingTalk app. ``robot_code`` defaults to the Client ID, as on the platform."""

    client_id: str
    client_secret: str
    kind: AppKind
    robot_code: str
    name: str
    monthly_quota: int | None = None
    calls_this_month: int = 0

    def view(self) -> AppView:
        """The control-API shape (never the secret)."""
        return AppView(
            client_id=self.client_id,
            kind=self.kind,
            robot_code=self.robot_code,
            name=self.name,
            monthly_quota=self.monthly_quota,
            calls_this_month=self.calls_this_month,
        )


@dataclass
class AccessToken:
    """An issued token and the emulated time it stops working."""

    value: str
    client_id: str
    expires_at: float


def invalid_authentication() -> Rejection:
    """The 400 for a missing, unknown or expired token."""
    return bad_request("InvalidAuthentication", "不合法的access_token")


class Apps:
    """App registry and token issuer."""

    def __init__(self, clock: EmulatorClock, limits: Callable[[], LimitsView]) -> None:
        self._clock = clock
        self._limits = limits
        self.apps: dict[str, App] = {}
        self._tokens: dict[str, AccessToken] = {}

    def register(
        self,
        client_id: str,
        client_secret: str,
        kind: AppKind = "assistant",
        robot_code: str | None = None,
        name: str | None = None,
    ) -> App:
        """Add an app; a Client ID is unique."""
        if client_id in self.apps:
            raise EmulatorError(f"app {client_id!r} exists", status=409)
        app = App(
            client_id=client_id,
            client_secret=client_secret,
            kind=kind,
            robot_code=robot_code or client_id,
            name=name or client_id,
        )
        self.apps[client_id] = app
        return app

    def app(self, client_id: str) -> App:
        """The app with this Client ID (control API)."""
        try:
            return self.apps[client_id]
        except KeyError:
            raise not_found("app", client_id) from None

    def by_robot_code(self, robot_code: str) -> App | None:
        """The app owning this robot code, if any."""
        return next((a for a in self.apps.values() if a.robot_code == robot_code), None)

    def issue(self, client_id: object, client_secret: object) -> AccessToken:
        """Operation A: the current token (life extended) or a fresh one."""
        app = self.apps.get(client_id) if isinstance(client_id, str) else None
        if app is None or client_secret != app.client_secret:
            raise bad_request("invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        now = self._clock.now()
        for token in self._tokens.values():
            if token.client_id == app.client_id and token.expires_at > now:
                token.expires_at = now + self._limits().access_token_lifetime  # extended
                return token
        token = AccessToken(
            value=secrets.token_hex(16),
            client_id=app.client_id,
            expires_at=now + self._limits().access_token_lifetime,
        )
        self._tokens[token.value] = token
        return token

    def authenticate(self, token_value: str | None) -> App:
        """The app a token belongs to, or the platform's ``InvalidAuthentication``."""
        token = self._tokens.get(token_value or "")
        if token is None or token.expires_at <= self._clock.now():
            raise invalid_authentication()
        return self.apps[token.client_id]

    def expires_in(self, token: AccessToken) -> int:
        """Whole seconds the token has left."""
        return max(0, math.ceil(token.expires_at - self._clock.now()))
