"""Each measured phase in a fresh child process, so its CPU and memory are its own.

Run as ``python -m bridge.bench.phase_process``: the child reads one ``PhaseOrder`` as
JSON from stdin (to end-of-file), runs ``answer.answer_phase`` and writes one JSON
``PhaseLine`` per line on stdout: ``{"done": n}`` after each measured reply, and last
``{"report": {...}}``. Its logging goes to stderr, which is the parent's.

``run_phase(order, progress)`` is the parent's side: it starts the child, sends the
order, relays progress, and returns the report. A child that exits without a report, or
stays silent for ``SILENCE_TIMEOUT`` seconds, is a ``BenchError``; the child is stopped
on every path (``child.child_process``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import anyio
from pydantic import BaseModel, ConfigDict, ValidationError

from bridge.bench.answer import PhaseOrder, PhaseReport, answer_phase
from bridge.bench.child import Lines, child_process
from bridge.bench.errors import BenchError
from bridge.bench.resources import raise_fd_limit
from bridge.errors import BridgeError

__all__ = ["PhaseLine", "main", "run_phase"]

#: The longest a phase child may go without a line (its slowest reply, at 1,000
#: conversations sharing 20 QPS, takes about a minute and a half).
SILENCE_TIMEOUT = 600.0


class PhaseLine(BaseModel):
    """One line from the phase child: progress, or the final report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    done: int | None = None
    report: PhaseReport | None = None


async def run_phase(order: PhaseOrder, progress: Callable[[int], None]) -> PhaseReport:
    """Run ``order`` in a fresh child process; ``progress(done)`` as replies finish."""
    async with child_process("bridge.bench.phase_process") as process:
        assert process.stdin is not None
        assert process.stdout is not None
        await process.stdin.send(order.model_dump_json().encode("utf-8"))
        await process.stdin.aclose()
        lines = Lines(process.stdout)
        while True:
            try:
                with anyio.fail_after(SILENCE_TIMEOUT):
                    text = await lines.next()
            except TimeoutError as exc:
                raise BenchError(
                    f"the phase {order.strategy} ×{order.concurrency} said nothing "
                    f"for {SILENCE_TIMEOUT:g} s"
                ) from exc
            if text is None:
                break
            try:
                line = PhaseLine.model_validate_json(text)
            except ValidationError as exc:
                raise BenchError(f"the phase process wrote {text[:200]!r}") from exc
            if line.report is not None:
                return line.report
            if line.done is not None:
                progress(line.done)
        code = await process.wait()
    raise BenchError(
        f"the phase {order.strategy} ×{order.concurrency} ended without a report "
        f"(exit code {code}; its errors are above)"
    )


# -- the child -----------------------------------------------------------------------------


def _write(line: PhaseLine) -> None:
    sys.stdout.write(line.model_dump_json(exclude_none=True) + "\n")
    sys.stdout.flush()


def main() -> None:
    """The child's entry point: one order in, progress and one report out."""
    order = PhaseOrder.model_validate_json(sys.stdin.buffer.read())
    logging.basicConfig(
        level=order.log_level, stream=sys.stderr, format="phase: %(levelname)s %(message)s"
    )
    raise_fd_limit()
    try:
        report = anyio.run(answer_phase, order, lambda done: _write(PhaseLine(done=done)))
    except BridgeError as exc:
        # One clear line on the parent's stderr; the parent reports the missing report.
        sys.stderr.write(f"phase {order.strategy} ×{order.concurrency}: error: {exc}\n")
        raise SystemExit(int(exc.exit_code)) from None
    _write(PhaseLine(report=report))


if __name__ == "__main__":
    main()
