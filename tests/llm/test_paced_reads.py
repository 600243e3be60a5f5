"""Tests of the paced reads of bridge.llm.source: a held reply's stream read in batches."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx2
import pytest

from bridge.core.events import End, TextDelta
from bridge.emulator.model.script import ModelScript
from bridge.llm.reads import WaitProbe, current_pause, paced_reads
from tests.llm.conftest import ServedModel
from tests.llm.test_source import collect, source_for, text_of

pytestmark = pytest.mark.anyio


async def test_the_probe_tells_a_wait_from_a_step() -> None:
    """An await that yields to the loop is a wait; code that does not yield is not."""
    probe = WaitProbe()
    armed = probe.arm()
    assert not probe.waited(armed)
    await anyio.lowlevel.checkpoint()
    assert probe.waited(armed)
    armed = probe.arm()
    assert not probe.waited(armed)


async def test_no_pause_outside_paced_reads() -> None:
    assert current_pause()() == 0.0
    with paced_reads(lambda: 0.5):
        assert current_pause()() == 0.5
    assert current_pause()() == 0.0


async def test_a_paced_stream_is_whole_and_pauses_once_per_batch(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """Paced, the answer still arrives whole and in order; the pause is taken only after
    a read that waited for the network, not once per chunk: the model (fast here) has
    sent the rest while the first pause ran, and it is read from the bytes at hand."""
    text = "".join(f"{n:03d}," for n in range(100))  # 400 characters: 100 chunks of 4
    model.simulator.queue(ModelScript(text=text))
    pauses: list[float] = []

    def pause() -> float:
        pauses.append(0.2)
        return 0.2

    with paced_reads(pause):
        events = await collect(source_for(model, http))
    assert text_of(events) == text
    assert events[-1] == End("stop")
    assert sum(isinstance(e, TextDelta) for e in events) == 100
    assert 1 <= len(pauses) < 10
