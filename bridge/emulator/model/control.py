"""A typed client for the simulated model's control API (``/_emulator/model/…``).

The model's endpoints (speed, script library, the record of emissions) live beside the
model (``routes``). ``EmulatorControl.model`` hands out this client, wired to its own
request function, so both share one HTTP client and one way of reporting a refusal
(``EmulatorError``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from bridge.emulator.model.context import ContextLimit
from bridge.emulator.model.reply import EmissionView
from bridge.emulator.model.script import ModelScript, ModelSpeed

__all__ = ["ModelControl"]


class ControlCall(Protocol):
    """Sends one control-API request (a path under ``/_emulator``) and decodes the answer."""

    def __call__(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
    ) -> Awaitable[Any]: ...


class ModelControl:
    """Typed calls to ``/_emulator/model/…``."""

    def __init__(self, call: ControlCall) -> None:
        self._send = call

    async def reset(self) -> None:
        """Speed, generator, queue, library, faults and record back to the defaults."""
        await self._call("POST", "/reset")

    async def set_speed(self, speed: ModelSpeed) -> ModelSpeed:
        """Replace the model's speed."""
        return ModelSpeed.model_validate(
            await self._call("PUT", "/speed", speed.model_dump(mode="json"))
        )

    async def define(self, name: str, script: ModelScript) -> None:
        """Put ``script`` in the library, for ``[[script=name]]``."""
        await self._call("PUT", f"/library/{name}", script.model_dump(mode="json"))

    async def set_context(self, limit: ContextLimit | None) -> None:
        """Refuse prompts longer than ``limit`` (None: no limit); see ``context``."""
        if limit is None:
            await self._call("DELETE", "/context")
        else:
            await self._call("PUT", "/context", limit.model_dump(mode="json"))

    async def emissions(self, since: int = 0) -> list[EmissionView]:
        """Every completion after the first ``since``, with its chunks and their times."""
        data = await self._call("GET", "/emissions", params={"since": since})
        return [EmissionView.model_validate(e) for e in data["emissions"]]

    async def clear_emissions(self) -> None:
        """Forget the record of completions."""
        await self._call("DELETE", "/emissions")

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
    ) -> Any:
        return await self._send(method, f"/model{path}", body, params=params)
