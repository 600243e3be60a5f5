"""Tests for bridge.dingtalk.retry: which errors are retried, how long, how often."""

from __future__ import annotations

import logging

import pytest

from bridge.config import RetryConfig
from bridge.dingtalk.operations import Operation
from bridge.dingtalk.retry import MAX_SERVER_WAIT, RetryPolicy
from bridge.errors import (
    InvalidConversationToken,
    PlatformAuthError,
    PlatformError,
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformRejected,
    PlatformUnavailable,
    PlatformUnreachable,
)

CONFIG = RetryConfig(attempts=4, backoff_initial=0.2, backoff_max=1.0, rate_limited_wait=1.5)


def policy(jitter: float = 0.0) -> RetryPolicy:
    return RetryPolicy(CONFIG, jitter=lambda: jitter)


def error(kind: type[PlatformError], op: Operation = Operation.AI_UPDATE) -> PlatformError:
    return kind("x", operation=op.value)


@pytest.mark.parametrize(
    "op", [Operation.AI_UPDATE, Operation.AI_REPLY, Operation.AI_FINISH, Operation.CARD_STREAMING]
)
def test_unavailable_is_retried_for_idempotent_operations(op: Operation) -> None:
    """5xx/timeouts on idempotent operations back off exponentially, capped."""
    decide = policy()
    failure = error(PlatformUnavailable, op)
    assert [decide.delay(op, failure, n) for n in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])


@pytest.mark.parametrize(
    "op",
    [Operation.AI_PREPARE, Operation.AI_SEND, Operation.ROBOT_WEBHOOK, Operation.ROBOT_GROUP_SEND],
)
def test_unavailable_is_final_for_non_idempotent_operations(op: Operation) -> None:
    """A call that may have taken effect (prepare, send, webhooks) is never repeated."""
    assert policy().delay(op, error(PlatformUnavailable, op), 1) is None


@pytest.mark.parametrize("op", [Operation.AI_PREPARE, Operation.AI_SEND, Operation.ROBOT_WEBHOOK])
def test_unreachable_is_retried_for_every_operation(op: Operation) -> None:
    """No connection means nothing was sent: even prepare and send are retried."""
    decide = policy()
    assert decide.delay(op, error(PlatformUnreachable, op), 1) == pytest.approx(0.1)
    assert decide.delay(op, error(PlatformUnreachable, op), CONFIG.attempts) is None


@pytest.mark.parametrize("op", [Operation.AI_SEND, Operation.AI_UPDATE, Operation.ROBOT_WEBHOOK])
def test_rate_limited_is_retried_for_every_operation(op: Operation) -> None:
    """A QPS refusal was not executed: every operation waits rate_limited_wait and retries."""
    assert policy().delay(op, error(PlatformRateLimited, op), 1) == pytest.approx(1.5)


def test_server_hint_wins_over_the_default_wait() -> None:
    """An IP ban's wait hint is honoured (plus at most 10 % jitter)."""
    ban = PlatformRateLimited("ban", operation="x", retry_after=5.0)
    assert policy().delay(Operation.AI_SEND, ban, 1) == pytest.approx(5.0)
    assert policy(jitter=1.0).delay(Operation.AI_SEND, ban, 1) == pytest.approx(5.5)


def test_a_very_long_ban_is_reported_not_waited() -> None:
    """A hint longer than MAX_SERVER_WAIT is final: the caller learns about the ban."""
    ban = PlatformRateLimited("ban", operation="x", retry_after=MAX_SERVER_WAIT + 1)
    assert policy().delay(Operation.AI_UPDATE, ban, 1) is None


@pytest.mark.parametrize(
    "kind",
    [
        PlatformRejected,
        InvalidConversationToken,
        PlatformAuthError,
        PlatformPermissionDenied,
        PlatformQuotaExceeded,
    ],
)
def test_refusals_are_final(kind: type[PlatformError]) -> None:
    """Bad requests, auth, permission and quota errors are never retried by the policy."""
    assert policy().delay(Operation.AI_UPDATE, error(kind), 1) is None


def test_attempts_are_capped() -> None:
    """After config.attempts attempts nothing is retried any more."""
    assert policy().delay(Operation.AI_UPDATE, error(PlatformUnavailable), 4) is None
    assert policy().delay(Operation.AI_UPDATE, error(PlatformRateLimited), 4) is None


def test_backoff_is_capped_and_jittered() -> None:
    """The backoff lies in [ceiling/2, ceiling] and the ceiling stops at backoff_max."""
    assert policy(jitter=0.0).backoff(10) == pytest.approx(0.5)
    assert policy(jitter=1.0).backoff(10) == pytest.approx(1.0)
    assert policy(jitter=1.0).backoff(1) == pytest.approx(0.2)


@pytest.mark.anyio
async def test_run_retries_then_succeeds_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    """run() sleeps the decided delays between attempts and logs each retry."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    runner = RetryPolicy(CONFIG, sleep=sleep, jitter=lambda: 0.0)
    outcomes: list[PlatformError | None] = [
        error(PlatformUnavailable),
        error(PlatformRateLimited),
        None,
    ]

    async def attempt() -> str:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return "ok"

    with caplog.at_level(logging.WARNING, logger="bridge.dingtalk.retry"):
        assert await runner.run(Operation.AI_UPDATE, attempt) == "ok"
    assert slept == pytest.approx([0.1, 1.5])
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert "aiInteraction.update attempt 1" in retries[0].getMessage()


@pytest.mark.anyio
async def test_run_gives_up_with_the_last_error() -> None:
    """When attempts run out, the last error propagates unchanged."""
    calls = 0

    async def sleep(seconds: float) -> None:
        pass

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise PlatformUnavailable(f"down {calls}", operation="aiInteraction.update")

    with pytest.raises(PlatformUnavailable, match="down 4"):
        await RetryPolicy(CONFIG, sleep=sleep).run(Operation.AI_UPDATE, attempt)
    assert calls == 4


@pytest.mark.anyio
async def test_run_does_not_retry_a_final_error() -> None:
    """A rejection is raised after exactly one attempt."""
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise PlatformRejected("bad", operation="aiInteraction.send")

    with pytest.raises(PlatformRejected):
        await policy().run(Operation.AI_SEND, attempt)
    assert calls == 1
