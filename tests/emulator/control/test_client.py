"""The typed control client: what it sends for the views it is given."""

from __future__ import annotations

from enum import StrEnum

import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import FaultSpec, LimitsView
from bridge.emulator.openapi.endpoints import Api


class _TheirNames(StrEnum):
    """Another package's names for the same APIs (bridge's client has its own)."""

    FINISH = "aiInteraction.finish"


@pytest.mark.anyio
async def test_a_copied_view_is_validated_before_it_is_sent(control: EmulatorControl) -> None:
    """A view changed with model_copy (no validation) still reaches the emulator as meant."""
    spec = FaultSpec(operation=Api.AI_REPLY, status=500).model_copy(
        update={"operation": _TheirNames.FINISH}
    )
    fault = await control.add_fault(spec)
    assert fault.spec.operation is Api.AI_FINISH
    limits = LimitsView().model_copy(update={"qps_per_operation": {_TheirNames.FINISH: 3}})
    assert (await control.set_limits(limits)).qps_per_operation == {Api.AI_FINISH: 3}
