"""The control API of card buttons: press one as a user, and read the presses made.

Mounted with the rest of the control API under ``/_emulator`` (``routes`` wraps these
handlers: JSON out, ``{"error"}`` with 400/404/409, 422 for a body that does not
validate).

  ``POST /cards/{out_track_id}/press``  ``{user, action?}`` → the press
                                        (``PressView``): the callback sent over Stream
                                        or HTTP and the app's answer; 409 and nothing
                                        sent when the button does not show
                                        (``webhooks.card_press``)
  ``GET  /cards/presses?since=``        → ``{"presses"}`` made, oldest first
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from bridge.emulator.errors import EmulatorError
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.card_press import STOP_ACTION, press

Handler = Callable[[Request], Awaitable[Any]]
RouteSpec = tuple[str, Handler, list[str], int]


class PressBody(BaseModel):
    """``POST /cards/{out_track_id}/press``: who presses, and the button's action id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = Field(min_length=1)
    action: str = Field(default=STOP_ACTION, min_length=1)


def card_control_routes(emulator: Emulator) -> list[RouteSpec]:
    """Handlers of the card button calls (``control.routes`` mounts them)."""

    async def press_button(request: Request) -> Any:
        body = PressBody.model_validate_json(await request.body() or b"{}")
        return await press(emulator, request.path_params["out_track_id"], body.user, body.action)

    async def presses(request: Request) -> Any:
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            raise EmulatorError("since must be an integer") from None
        return {"presses": [p.model_dump(mode="json") for p in emulator.presses.since(since)]}

    return [
        ("/cards/presses", presses, ["GET"], 200),
        ("/cards/{out_track_id}/press", press_button, ["POST"], 200),
    ]
