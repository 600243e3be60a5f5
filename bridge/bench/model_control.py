"""A small typed client for the simulated model's control API (``/_emulator/model/…``).

``EmulatorControl`` drives the emulated DingTalk; the model's own endpoints (speed,
script library, the record of emissions) have no typed client yet, so the benchmark
carries this one. Like ``EmulatorControl`` it is given an ``httpx2.AsyncClient`` and
closes nothing; a refusal raises ``EmulatorError``.
"""

from __future__ import annotations

from typing import Any

import httpx2

from bridge.emulator.errors import EmulatorError
from bridge.emulator.model_reply import EmissionView
from bridge.emulator.model_script import ModelScript, ModelSpeed

__all__ = ["ModelControl"]


class ModelControl:
    """Typed calls to ``/_emulator/model/…``."""

    def __init__(self, client: httpx2.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base = f"{base_url.rstrip('/')}/_emulator/model"

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
        response = await self._client.request(
            method, f"{self._base}{path}", json=body, params=params
        )
        data = response.json()
        if response.status_code >= 400:
            raise EmulatorError(str(data.get("error", response.text)), status=response.status_code)
        return data
