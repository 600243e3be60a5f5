"""Simulated model faults are logged as one line each, never as a server traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest

from bridge.emulator.model.script import ModelFault, ModelScript
from bridge.emulator.server import running_emulator

pytestmark = pytest.mark.anyio

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


class Collect(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[Collect]:
    """Every record uvicorn logs about a request, caught on its own logger."""
    handler = Collect()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def test_drop_is_one_line_and_no_server_traceback(
    server_log: Collect, caplog: pytest.LogCaptureFixture
) -> None:
    """A drop: one INFO line naming the completion; uvicorn logs no exception for it."""
    caplog.set_level(logging.INFO, logger="bridge.emulator.model")
    async with running_emulator() as running, httpx2.AsyncClient(timeout=10) as http:
        model = running.emulator.model
        model.queue(ModelScript(text="abcdefgh" * 8))
        model.add_fault(ModelFault(kind="drop", after_chunks=2))
        url = f"{running.base_url}/v1/chat/completions"

        async def read_all() -> None:
            async with http.stream("POST", url, json=BODY) as response:
                async for _ in response.aiter_bytes():
                    pass

        with pytest.raises(httpx2.RemoteProtocolError):
            await read_all()
    faults = [r.getMessage() for r in caplog.records if "simulated model fault" in r.getMessage()]
    assert len(faults) == 1
    assert faults[0].endswith("dropped after 2 chunks")
    assert [r for r in server_log.records if r.exc_info] == []


async def test_status_and_stall_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    """A status fault and a stall each give one line saying what the model did."""
    caplog.set_level(logging.INFO, logger="bridge.emulator.model")
    async with running_emulator() as running, httpx2.AsyncClient(timeout=10) as http:
        model = running.emulator.model
        model.add_fault(ModelFault(kind="status", status=503, count=1))
        url = f"{running.base_url}/v1/chat/completions"
        assert (await http.post(url, json=BODY)).status_code == 503
        model.queue(ModelScript(text="abcd" * 4))
        model.add_fault(ModelFault(kind="stall", after_chunks=1, seconds=0.01))
        assert (await http.post(url, json=BODY)).status_code == 200
    faults = [r.getMessage() for r in caplog.records if "simulated model fault" in r.getMessage()]
    assert len(faults) == 2
    assert faults[0].endswith("answered HTTP 503")
    assert "stalls for 0.01 s after 1 chunks" in faults[1]
