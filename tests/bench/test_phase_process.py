"""Tests for bridge.bench.phase_process: the line protocol, and a child that fails."""

from __future__ import annotations

import pytest

from bridge.bench.answer import PhaseOrder, PhaseReport, ReplyOrder, SentRecord
from bridge.bench.errors import BenchError
from bridge.bench.phase_process import PhaseLine, run_phase
from bridge.config import PacingConfig

REPORT = PhaseReport(
    sent=(SentRecord(reply_id="r0000", conversation_id="cid", token="tok", user_at=1.5),),
    call_seconds=(0.01, 0.02),
    wall_seconds=3.0,
    cpu_seconds=0.5,
    peak_rss_bytes=80 * 2**20,
    baseline_rss_bytes=70 * 2**20,
)


def order(base_url: str) -> PhaseOrder:
    """An order of one reply against ``base_url``."""
    reply = ReplyOrder(id="r0000", conversation_id="cid-r0000", prompt="hello")
    return PhaseOrder(
        base_url=base_url,
        model_url=base_url,
        strategy="fixed-800ms+budget",
        concurrency=1,
        qps=20,
        pacing=PacingConfig(close_timeout=1.0),
        user="alice",
        warm_up=ReplyOrder(id="warm-up", conversation_id="cid-warm-up", prompt="hi"),
        replies=(reply,),
        log_level=50,
    )


def test_a_report_survives_the_line_protocol() -> None:
    """A report written as one JSON line reads back equal; progress lines carry a count."""
    line = PhaseLine(report=REPORT).model_dump_json(exclude_none=True)
    assert "\n" not in line
    assert PhaseLine.model_validate_json(line).report == REPORT
    assert PhaseLine.model_validate_json('{"done": 3}').done == 3


def test_an_order_survives_the_line_protocol() -> None:
    """The order the parent sends is the order the child reads, pacing included."""
    sent = order("http://127.0.0.1:9")
    assert PhaseOrder.model_validate_json(sent.model_dump_json()) == sent


@pytest.mark.anyio
async def test_a_child_that_cannot_answer_is_a_bench_error() -> None:
    """No emulator where the order says: the child exits without a report, and we say so."""
    with pytest.raises(BenchError, match="without a report"):
        await run_phase(order("http://127.0.0.1:9"), lambda done: None)
