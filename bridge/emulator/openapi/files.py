"""The robot message-file download API (contract §12): a download code to a URL.

``POST /v1.0/robot/messageFiles/download`` with ``{"downloadCode", "robotCode"}``
answers ``{"downloadUrl"}``, a pre-signed URL of the emulator's own host
(``media.library``). Refusals are the platform's (all 400):
``invalidParameter.robotCode.empty`` when a field is missing or empty,
``invalidParameter.robotCode.auth`` when the robot code is not the caller's or the code
was given to another robot, ``invalidParameter.downloadCode`` when the code is wrong or
expired.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.emulator.errors import Rejection, bad_request
from bridge.emulator.media.library import MediaLibrary
from bridge.emulator.openapi.apps import App


class Files:
    """The download API over a media library; ``base_url`` is where the emulator listens."""

    def __init__(self, media: MediaLibrary, base_url: Callable[[], str | None]) -> None:
        self._media = media
        self._base_url = base_url

    def download(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """§12: the temporary URL of the medium behind ``downloadCode``."""
        value, robot = body.get("downloadCode"), body.get("robotCode")
        if not isinstance(value, str) or not value or not isinstance(robot, str) or not robot:
            raise bad_request(
                "invalidParameter.robotCode.empty", "robotCode and downloadCode are required"
            )
        if robot != app.robot_code:
            raise bad_request("invalidParameter.robotCode.auth", "robotCode is not this app's")
        code = self._media.code(value)
        if code is None:
            raise bad_request("invalidParameter.downloadCode", "downloadCode is invalid or expired")
        if code.robot_code != robot:
            raise bad_request(
                "invalidParameter.robotCode.auth", "the downloadCode belongs to another robot"
            )
        base = self._base_url()
        if base is None:
            raise Rejection(500, "system.error", "the emulator does not know its own URL yet")
        return {"downloadUrl": self._media.signed_url(code.media_id, base)}
