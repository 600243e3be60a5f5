"""Tests for bridge.dingtalk.retry: which errors are retried, how long, how often."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import pytest

from bridge.config import RetryConfig
from bridge.dingtalk.deadline import DeliveryDeadline
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


def scripted(outcomes: list[PlatformError | None]) -> Callable[[], Awaitable[str]]:
    """An attempt that raises each of ``outcomes`` in turn, and returns "ok" at a None."""
    remaining = list(outcomes)

    async def attempt() -> str:
        outcome = remaining.pop(0)
        if outcome is not None:
            raise outcome
        return "ok"

    return attempt


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


@pytest.mark.parametrize("op", [Operation.AI_SEND, Operation.AI_UPDATE, Operation.ROBOT_WEBHOOK])
def test_rate_limited_waits_until_the_deadline_however_often(op: Operation) -> None:
    """Inside a delivery deadline a rate limit is waited out, attempts or not, until
    the wait would end past the deadline."""
    decide = policy()
    limited = error(PlatformRateLimited, op)
    assert decide.delay(op, limited, 0, now=0.0, deadline=10.0) == pytest.approx(1.5)
    assert decide.delay(op, limited, 99, now=8.5, deadline=10.0) == pytest.approx(1.5)
    assert decide.delay(op, limited, 0, now=8.6, deadline=10.0) is None


def test_a_long_hint_is_waited_when_the_deadline_allows() -> None:
    """MAX_SERVER_WAIT is for calls without a deadline; a deadline decides by itself."""
    ban = PlatformRateLimited("ban", operation="x", retry_after=MAX_SERVER_WAIT + 1)
    decide = policy()
    assert decide.delay(Operation.AI_SEND, ban, 0, now=0.0, deadline=300.0) == pytest.approx(
        MAX_SERVER_WAIT + 1
    )
    assert decide.delay(Operation.AI_SEND, ban, 0, now=280.0, deadline=300.0) is None


def test_only_rate_limits_inside_a_deadline_go_uncounted() -> None:
    """5xx and rate limits without a deadline use up attempts; rate limits within one do not."""
    assert not RetryPolicy.counts(error(PlatformRateLimited), 10.0)
    assert RetryPolicy.counts(error(PlatformRateLimited), None)
    assert RetryPolicy.counts(error(PlatformUnavailable), 10.0)
    assert RetryPolicy.counts(error(PlatformUnreachable), 10.0)


def test_a_deadline_does_not_lift_the_attempts_of_5xx() -> None:
    """A 5xx is retried attempts times, deadline or not: it may have taken effect."""
    decide = policy()
    down = error(PlatformUnavailable)
    assert decide.delay(Operation.AI_UPDATE, down, 3, now=0.0, deadline=300.0) is not None
    assert decide.delay(Operation.AI_UPDATE, down, 4, now=0.0, deadline=300.0) is None


@pytest.mark.parametrize("kind", [PlatformQuotaExceeded, PlatformPermissionDenied])
def test_the_quota_is_not_waited_for_even_within_a_deadline(kind: type[PlatformError]) -> None:
    """The monthly quota (and a missing scope) is final at once: no waiting brings it back."""
    assert policy().delay(Operation.AI_SEND, error(kind), 1, now=0.0, deadline=300.0) is None


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
    attempt = scripted(
        [
            error(PlatformUnavailable),
            error(PlatformRateLimited),
            None,
        ]
    )

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


class FakeTime:
    """The policy's clock, moved on by its sleeps; starts at the real anyio time."""

    def __init__(self) -> None:
        self.now = anyio.current_time()
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.anyio
async def test_run_waits_out_a_rate_limit_longer_than_its_attempts() -> None:
    """Under a deadline, 10 rate-limit answers in a row do not use up 4 attempts."""
    time = FakeTime()
    runner = RetryPolicy(CONFIG, sleep=time.sleep, jitter=lambda: 0.0, clock=time.clock)
    attempt = scripted([error(PlatformRateLimited)] * 10 + [None])

    with DeliveryDeadline(time.now + 300).bound(5.0):
        assert await runner.run(Operation.AI_SEND, attempt) == "ok"
    assert time.slept == pytest.approx([1.5] * 10)


@pytest.mark.anyio
async def test_run_gives_up_a_rate_limit_when_the_deadline_would_pass() -> None:
    """The last wait that still ends before the deadline is the last one."""
    time = FakeTime()
    runner = RetryPolicy(CONFIG, sleep=time.sleep, jitter=lambda: 0.0, clock=time.clock)
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise PlatformRateLimited("limited", operation="aiInteraction.send")

    with (
        DeliveryDeadline(time.now + 10.0).bound(5.0),
        pytest.raises(PlatformRateLimited),
    ):
        await runner.run(Operation.AI_SEND, attempt)
    assert time.slept == pytest.approx([1.5] * 6)  # 6 × 1.5 = 9 s; a 7th would end at 10.5
    assert calls == 7


@pytest.mark.anyio
async def test_run_counts_5xx_within_a_deadline() -> None:
    """Rate limits in between do not give a 5xx more than its attempts."""
    time = FakeTime()
    runner = RetryPolicy(CONFIG, sleep=time.sleep, jitter=lambda: 0.0, clock=time.clock)
    outcomes = [error(PlatformUnavailable), error(PlatformRateLimited)] * 4
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise outcomes.pop(0)

    with DeliveryDeadline(time.now + 300).bound(5.0), pytest.raises(PlatformUnavailable):
        await runner.run(Operation.AI_UPDATE, attempt)
    assert calls == 2 * CONFIG.attempts - 1  # the 4th 5xx is final


@pytest.mark.anyio
async def test_run_paces_rate_limits_through_back_off_not_sleep() -> None:
    """With a back_off hook the lane holds back (the budget waits), the loop never sleeps."""
    time = FakeTime()
    runner = RetryPolicy(CONFIG, sleep=time.sleep, jitter=lambda: 0.0, clock=time.clock)
    paused: list[float] = []
    attempt = scripted(
        [
            error(PlatformRateLimited),
            error(PlatformUnavailable),
            None,
        ]
    )

    with DeliveryDeadline(time.now + 300).bound(5.0):
        assert await runner.run(Operation.AI_UPDATE, attempt, back_off=paused.append) == "ok"
    assert paused == pytest.approx([1.5])
    assert time.slept == pytest.approx([0.1])  # the 5xx backoff is the loop's own


@pytest.mark.anyio
async def test_run_stretches_the_relays_bound_before_waiting() -> None:
    """Waiting out a rate limit moves the enclosing bound past the wait."""
    time = FakeTime()
    runner = RetryPolicy(CONFIG, sleep=time.sleep, jitter=lambda: 0.0, clock=time.clock)
    attempt = scripted([error(PlatformRateLimited), None])

    start = time.now
    with DeliveryDeadline(start + 300).bound(0.5) as scope:
        await runner.run(Operation.AI_SEND, attempt)
        assert scope.deadline >= start + 1.5 + 0.5
