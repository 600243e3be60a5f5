"""Fixtures of the LLM tests: the emulator's simulated model, served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import tiktoken

from bridge.emulator.model.script import ModelSpeed
from bridge.emulator.model.simulator import ModelSimulator
from bridge.emulator.server import running_emulator
from bridge.llm.tokens import Encodings, load_encodings

FAST = ModelSpeed(ttft=0.0, tokens_per_second=20_000.0, chunk_chars=4)


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A running simulated model and where to reach it."""

    simulator: ModelSimulator
    base_url: str  # ends in /v1, as openai wants it
    root: str


@pytest.fixture
async def model() -> AsyncIterator[ServedModel]:
    """The emulator's simulated model, made fast (no time to first token, 20k tokens/s)."""
    async with running_emulator() as running:
        simulator = running.emulator.model
        simulator.set_speed(FAST)
        try:
            yield ServedModel(simulator, f"{running.base_url}/v1", running.base_url)
        finally:
            simulator.release_stalls()


@pytest.fixture(scope="session")
def encodings() -> Encodings:
    """Both encodings, loaded once for the whole run (it takes about a second)."""
    return load_encodings()


@pytest.fixture
def cl100k(encodings: Encodings) -> tiktoken.Encoding:
    """The cl100k_base encoding."""
    return encodings.get("cl100k_base")
