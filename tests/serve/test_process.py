"""`bridge serve` and `bridge send` as real processes: kill, restart, SIGTERM, ownership.

The bridge runs as a child process against the emulator (in this process) over
loopback. Nothing waits a fixed time: each step waits for an event of the emulator (a
message state, an ACK, a connection) or polls a condition, with generous timeouts.
"""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from anyio.abc import Process

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from bridge.emulator.model.script import SpeedUpdate
from bridge.emulator.server import RunningEmulator
from tests.child import BRIDGE, CLIENT_ID, reaped
from tests.child import write_config as child_config
from tests.serve.conftest import answer_in

NOTICE = "（回答中断，请稍后重试）"


def write_config(
    base_url: str, tmp_path: Path, *, grace: float = 10.0, concurrent: int = 64
) -> Path:
    """Stream mode only, ``grace`` seconds to drain, ``concurrent`` replies at once."""
    return child_config(
        tmp_path / "bridge.toml",
        base_url,
        grace_period=grace,
        max_concurrent_replies=concurrent,
    )


@asynccontextmanager
async def bridge_process(config: Path, log: Path) -> AsyncIterator[Process]:
    """`bridge serve --config` in a child process; killed if still running at the end."""
    with log.open("ab") as out:
        process = await anyio.open_process(
            [BRIDGE, "serve", "--config", str(config)], stdout=out, stderr=out
        )
    async with reaped(process):
        yield process


async def first_change(control: EmulatorControl, conversation: str, state: str) -> MessageView:
    """Wait until a bot message of ``conversation`` reaches ``state``."""
    with anyio.fail_after(20):
        async with control.events() as events:
            for message in await control.transcript(conversation):
                if message.sender_kind == "bot" and message.state == state:
                    return message
            async for event in events:
                message = event.message
                if (
                    message is not None
                    and message.conversation_id == conversation
                    and message.sender_kind == "bot"
                    and message.state == state
                ):
                    return message
    raise AssertionError("no such change")


async def until(control: EmulatorControl, check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``check`` holds, checking again at each event of the emulator."""
    with anyio.fail_after(60):
        async with control.events() as events:
            if await check():
                return
            async for _ in events:
                if await check():
                    return
    raise AssertionError("the event stream ended first")


@pytest.fixture
async def control(emulator: RunningEmulator, http: httpx2.AsyncClient) -> EmulatorControl:
    # Slow enough that an answer is still streaming when the process is stopped.
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=60))
    return EmulatorControl(http, emulator.base_url)


# ---------------------------------------------------------------- crash and replay

CONVERSATIONS = ("cid-u1", "cid-u2", "cid-u3", "cid-u4")
ANSWER = re.compile(r"^You said: (\S+)\.")


async def make_users(control: EmulatorControl) -> None:
    for n, conversation in enumerate(CONVERSATIONS, 1):
        await control.create_user(f"u{n}", f"User {n}", union_id=f"union-u{n}")
        await control.create_conversation("single", [f"u{n}"], conversation_id=conversation)


async def say(control: EmulatorControl, n: int, text: str) -> str:
    """User ``n`` says ``text`` over Stream; returns the delivery id once the bridge ACKed it.

    The door ACKs only after the pipeline journaled the Turn: ACKed means it is on disk.
    """
    said = await control.inbound(f"u{n}", CONVERSATIONS[n - 1], text)
    assert said.delivery is not None
    assert said.delivery.delivery is not None
    delivery = await control.delivery(said.delivery.delivery.id, "acked", wait=20)
    assert delivery.ack_code == 200
    return delivery.id


async def answers(control: EmulatorControl) -> tuple[dict[str, list[str]], list[MessageView]]:
    """The questions answered per conversation, in order; and the messages closed interrupted."""
    answered: dict[str, list[str]] = {}
    interrupted: list[MessageView] = []
    for conversation in CONVERSATIONS:
        answered[conversation] = []
        for message in await control.transcript(conversation):
            if message.sender_kind != "bot" or message.state not in ("finished", "failed"):
                continue
            if message.text.endswith(NOTICE):
                interrupted.append(message)
                continue
            match = ANSWER.match(message.text)
            assert match is not None, message
            assert message.state == "finished", message
            answered[conversation].append(match.group(1))
    return answered, interrupted


async def crash_with_work_queued(
    emulator: RunningEmulator,
    control: EmulatorControl,
    tmp_path: Path,
    stop: Callable[[Process], Awaitable[None]],
) -> None:
    """One answer streams and 20 Turns queue; ``stop`` ends the process; a restart answers all.

    During the restart, every one of the 21 deliveries is sent again (DingTalk redelivering
    after a reconnect): each is ACKed as a duplicate and gets no second answer.
    """
    await make_users(control)
    log = tmp_path / "bridge.log"
    # One reply at a time: while the first streams, every other Turn waits in the journal.
    config = write_config(emulator.base_url, tmp_path, grace=0.5, concurrent=1)
    expected: dict[str, list[str]] = {c: [] for c in CONVERSATIONS}
    deliveries: list[str] = []
    async with bridge_process(config, log) as first:
        await control.wait_connections(1, client_id=CLIENT_ID, wait=30)
        deliveries.append(await say(control, 1, "u1-q0 [[len=3000]]"))
        expected["cid-u1"].append("u1-q0")
        streaming = await first_change(control, "cid-u1", "inputting")
        for round_ in range(1, 6):
            for n in range(1, 5):
                deliveries.append(await say(control, n, f"u{n}-q{round_} [[len=60]]"))
                expected[CONVERSATIONS[n - 1]].append(f"u{n}-q{round_}")
        assert len(deliveries) == 21
        await stop(first)
    assert await control.connections(CLIENT_ID, live=True) == []
    answered, _ = await answers(control)
    assert answered == {c: [] for c in CONVERSATIONS}, "nothing but the first had started"

    emulator.emulator.model.set_speed(SpeedUpdate(tokens_per_second=2000))
    config = write_config(emulator.base_url, tmp_path, grace=10.0, concurrent=4)
    async with bridge_process(config, log) as second:
        await control.wait_connections(1, client_id=CLIENT_ID, wait=30)
        for delivery in deliveries:
            frame = await control.redeliver(delivery)
            assert frame.message_id is not None
            (ack,) = await control.acks(message_id=frame.message_id, count=1, wait=20)
            assert ack.code == 200  # taken: a duplicate, not an error

        async def all_answered() -> bool:
            got, _ = await answers(control)
            return sum(map(len, got.values())) >= 21

        await until(control, all_answered)
        assert await control.messages("preparing", "inputting") == []
        second.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await second.wait() == 0
    answered, interrupted = await answers(control)
    assert answered == expected, log.read_text()
    # The one that was streaming was closed as interrupted, then answered in full.
    assert [m.id for m in interrupted] == [streaming.id]


@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_sigkill_with_turns_queued_loses_none(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """SIGKILL with 1 streaming and 20 queued: after a restart all 21 get one answer, in order."""

    async def kill(process: Process) -> None:
        process.kill()
        await process.wait()
        await until(control, lambda: no_connection(control))

    await crash_with_work_queued(emulator, control, tmp_path, kill)


@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_sigterm_past_its_grace_with_turns_queued_loses_none(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """SIGTERM with a short grace: the stream is closed, the queue kept; a restart answers all."""

    async def terminate(process: Process) -> None:
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0
        await until(control, lambda: no_connection(control))

    await crash_with_work_queued(emulator, control, tmp_path, terminate)


async def no_connection(control: EmulatorControl) -> bool:
    return await control.connections(CLIENT_ID, live=True) == []


# ---------------------------------------------------------------- shutdown


@pytest.mark.anyio
async def test_sigterm_lets_the_reply_in_flight_finish(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """SIGTERM stops intake but the answer being streamed completes and is closed."""
    config = write_config(emulator.base_url, tmp_path, grace=30.0)
    async with bridge_process(config, tmp_path / "bridge.log") as process:
        await control.wait_connections(1, client_id=CLIENT_ID, wait=30)
        said = await control.inbound("alice", "cid-alice", "慢慢说 [[len=120]]")
        await first_change(control, "cid-alice", "inputting")
        process.send_signal(signal.SIGTERM)
        answer = await answer_in(control, "cid-alice", said.message.created_at)
        with anyio.fail_after(30):
            assert await process.wait() == 0
    assert answer.state == "finished"
    emitted = emulator.emulator.model.emissions()[-1]
    assert answer.text == emitted.text.strip()
    assert await control.messages("preparing", "inputting") == []


# ---------------------------------------------------------------- ownership


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_bridge_send_leaves_the_running_service_alone(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """`bridge send` with the service's config never touches the reply the service streams."""
    config = write_config(emulator.base_url, tmp_path)
    async with bridge_process(config, tmp_path / "bridge.log") as process:
        await control.wait_connections(1, client_id=CLIENT_ID, wait=30)
        said = await control.inbound("alice", "cid-alice", "讲个长故事 [[len=600]]")
        streaming = await first_change(control, "cid-alice", "inputting")
        sent = await anyio.run_process(
            [BRIDGE, "send", "--config", str(config), "--to", "group:cid-group", "提醒 [[len=60]]"],
            check=False,
        )
        assert sent.returncode == 0, sent.stderr.decode()
        assert (await control.message(streaming.id)).state == "inputting"
        served = await answer_in(control, "cid-alice", said.message.created_at)
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0
    assert (served.id, served.state) == (streaming.id, "finished")
    assert not served.text.endswith(NOTICE)
    emitted = [e for e in emulator.emulator.model.emissions() if e.user.startswith("讲个长故事")]
    assert served.text == emitted[0].text.strip()
    bot = [m for m in await control.transcript("cid-alice") if m.sender_kind == "bot"]
    assert [m.id for m in bot] == [served.id]


@pytest.mark.anyio
async def test_a_second_serve_on_the_same_state_file_is_refused(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """A second `bridge serve` on one SQLite file exits 2 with one `error:` line on stderr."""
    config = write_config(emulator.base_url, tmp_path)
    async with bridge_process(config, tmp_path / "bridge.log") as first:
        await control.wait_connections(1, client_id=CLIENT_ID, wait=30)
        second = await anyio.run_process([BRIDGE, "serve", "--config", str(config)], check=False)
        assert first.returncode is None
    lines = second.stderr.decode().splitlines()
    assert second.returncode == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: serve.state: ")
    assert f"pid {first.pid}" in lines[0]
    assert 'Redis, state = "redis://host:6379/0"' in lines[0]


@pytest.mark.anyio
async def test_a_corrupt_state_file_is_one_line_and_exit_code_5(
    emulator: RunningEmulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """`bridge serve` on a state file that is not a database: `error: state …`, exit 5."""
    config = write_config(emulator.base_url, tmp_path)
    (tmp_path / "state.sqlite3").write_bytes(b"not a database\n" * 100)
    result = await anyio.run_process([BRIDGE, "serve", "--config", str(config)], check=False)
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 5, lines
    assert lines == [
        f"error: state {tmp_path / 'state.sqlite3'}: is not a SQLite database"
        " (another file, or corrupt)"
    ]


# ---------------------------------------------------------------- proactive


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("to", "conversation"),
    [("user:union-alice", "cid-alice"), ("group:cid-group", "cid-group")],
    ids=["user", "group"],
)
async def test_bridge_send_reaches_a_user_and_a_group(
    emulator: RunningEmulator,
    control: EmulatorControl,
    tmp_path: Path,
    to: str,
    conversation: str,
) -> None:
    """`bridge send --to user:…|group:…` streams the answer there and exits 0."""
    emulator.emulator.model.set_speed(SpeedUpdate(ttft=0.05, tokens_per_second=800))
    config = write_config(emulator.base_url, tmp_path)
    result = await anyio.run_process(
        [BRIDGE, "send", "--config", str(config), "--to", to, "每日提醒 [[len=400]]"],
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"delivered via ai_stepwise" in result.stderr
    bot = [m for m in await control.transcript(conversation) if m.sender_kind == "bot"]
    assert len(bot) == 1
    assert bot[0].state == "finished"
    assert bot[0].text == emulator.emulator.model.emissions()[-1].text.strip()
