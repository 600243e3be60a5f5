"""Each measured phase in a fresh child process, so its CPU and memory are its own.

Run as ``python -m bridge.bench.phase_process``: the child reads one ``PhaseOrder`` as
one line of JSON from stdin, runs ``answer.answer_phase`` and writes one JSON
``PhaseLine`` per line on stdout: ``{"done": n}`` after each measured reply, and last
``{"report": {...}}``. Its logging goes to stderr, which is the parent's. An order with
``barrier`` (one of several instances) also writes ``{"ready": true}`` after its
warm-up and waits for a line ``go`` on stdin before it measures.

``run_phase(order, progress, ready)`` is the parent's side: it starts the child, sends
the order, relays progress, answers ``ready`` with ``go`` once ``ready()`` returns
(``run_phases`` runs several children that way and lets them go together), and returns
the report. A child that exits without a report, or
stays silent for ``SILENCE_TIMEOUT`` seconds, is a ``BenchError``; the child is stopped
on every path (``child.child_process``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio
import anyio.to_thread
from pydantic import BaseModel, ConfigDict, ValidationError

from bridge.bench.answer import PhaseOrder, PhaseReport, answer_phase
from bridge.bench.child import Lines, child_process
from bridge.bench.errors import BenchError
from bridge.bench.resources import raise_fd_limit
from bridge.errors import BridgeError

__all__ = ["PhaseLine", "main", "run_phase", "run_phases"]

#: The longest a phase child may go without a line (its slowest reply, at 1,000
#: conversations sharing 20 QPS, takes about a minute and a half).
SILENCE_TIMEOUT = 600.0


class PhaseLine(BaseModel):
    """One line from the phase child: progress, ready to measure, or the final report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    done: int | None = None
    ready: bool | None = None
    report: PhaseReport | None = None


async def run_phase(
    order: PhaseOrder,
    progress: Callable[[int], None],
    ready: Callable[[], Awaitable[None]] | None = None,
) -> PhaseReport:
    """Run ``order`` in a fresh child process; ``progress(done)`` as replies finish;
    with ``order.barrier``, the child measures once ``ready()`` has returned."""
    async with child_process("bridge.bench.phase_process") as process:
        assert process.stdin is not None
        assert process.stdout is not None
        await process.stdin.send(order.model_dump_json().encode("utf-8") + b"\n")
        if not order.barrier:
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
            if line.ready:
                if ready is not None:
                    await ready()
                await process.stdin.send(b"go\n")
                await process.stdin.aclose()
            if line.done is not None:
                progress(line.done)
        code = await process.wait()
    raise BenchError(
        f"the phase {order.strategy} ×{order.concurrency} ended without a report "
        f"(exit code {code}; its errors are above)"
    )


async def run_phases(
    orders: Sequence[PhaseOrder], progress: Callable[[int], None]
) -> list[PhaseReport]:
    """Run one child per order at once (instances of one phase, each with ``barrier``);
    all measure from the moment the last is warmed up. ``progress(done)`` counts the
    replies finished by all of them; the reports come back in the orders' order."""
    done = [0] * len(orders)
    reports: list[PhaseReport | None] = [None] * len(orders)
    warmed = 0
    go = anyio.Event()

    async def ready() -> None:
        nonlocal warmed
        warmed += 1
        if warmed == len(orders):
            go.set()
        await go.wait()

    async def one(index: int) -> None:
        def advance(count: int) -> None:
            done[index] = count
            progress(sum(done))

        reports[index] = await run_phase(orders[index], advance, ready)

    # A child that fails raises here and cancels the others (still waiting, or running).
    async with anyio.create_task_group() as tg:
        for index in range(len(orders)):
            tg.start_soon(one, index)
    return [report for report in reports if report is not None]


# -- the child -----------------------------------------------------------------------------


def _write(line: PhaseLine) -> None:
    sys.stdout.write(line.model_dump_json(exclude_none=True) + "\n")
    sys.stdout.flush()


def _done(count: int) -> None:
    _write(PhaseLine(done=count))


async def _at_once() -> None:
    pass


async def _go() -> None:
    """Say the warm-up is done; return when the parent says ``go``."""
    _write(PhaseLine(ready=True))
    line = await anyio.to_thread.run_sync(sys.stdin.buffer.readline, abandon_on_cancel=True)
    if line.strip() != b"go":
        raise BenchError("the runner went away before the phase started")


def main() -> None:
    """The child's entry point: one order in, progress and one report out."""
    order = PhaseOrder.model_validate_json(sys.stdin.buffer.readline())
    logging.basicConfig(
        level=order.log_level, stream=sys.stderr, format="phase: %(levelname)s %(message)s"
    )
    raise_fd_limit()
    try:
        report = anyio.run(answer_phase, order, _done, _go if order.barrier else _at_once)
    except BridgeError as exc:
        # One clear line on the parent's stderr; the parent reports the missing report.
        sys.stderr.write(f"phase {order.strategy} ×{order.concurrency}: error: {exc}\n")
        raise SystemExit(int(exc.exit_code)) from None
    _write(PhaseLine(report=report))


if __name__ == "__main__":
    main()
