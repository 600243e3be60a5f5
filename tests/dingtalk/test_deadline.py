"""Tests for bridge.dingtalk.deadline: a reply's deadline as its calls' retry loop sees it."""

from __future__ import annotations

import anyio
import pytest

from bridge.dingtalk import deadline
from bridge.dingtalk.deadline import DeliveryDeadline

pytestmark = pytest.mark.anyio


async def test_no_deadline_outside_a_bound() -> None:
    """A call made outside any relay bound (recovery, token fetch) has no deadline."""
    assert deadline.current() is None


async def test_a_bound_carries_its_reply_deadline() -> None:
    """Inside a bound the retry loop sees the reply's deadline; outside again, none."""
    at = anyio.current_time() + 60
    window = DeliveryDeadline(at)
    with window.bound(5.0):
        assert deadline.current() == at
    assert deadline.current() is None


async def test_a_reply_without_a_deadline_shows_none() -> None:
    """``DeliveryDeadline.after(None)``: bounded calls, no deadline to wait out limits."""
    with DeliveryDeadline.after(None).bound(5.0):
        assert deadline.current() is None


async def test_a_passed_deadline_is_none() -> None:
    """Once the deadline has passed the call is back to counted attempts."""
    with DeliveryDeadline(anyio.current_time() - 1).bound(5.0):
        assert deadline.current() is None


async def test_stretch_moves_the_bound_to_the_wait_plus_its_own_length() -> None:
    """Stretching for a wait keeps the call's own length after it, never past the deadline."""
    now = anyio.current_time()
    window = DeliveryDeadline(now + 60)
    with window.bound(5.0) as scope:
        deadline.stretch(now + 20)
        assert scope.deadline == pytest.approx(now + 25)
        deadline.stretch(now + 10)  # never shortens
        assert scope.deadline == pytest.approx(now + 25)
        deadline.stretch(now + 600)  # capped at the deadline
        assert scope.deadline == pytest.approx(now + 65)


async def test_stretch_without_a_deadline_changes_nothing() -> None:
    """Outside a reply's window a bound stays what it is."""
    with DeliveryDeadline(None).bound(5.0) as scope:
        before = scope.deadline
        deadline.stretch(anyio.current_time() + 100)
        assert scope.deadline == before
    deadline.stretch(anyio.current_time() + 100)  # no bound at all: no error


async def test_expire_ends_the_window_and_shrinks_running_bounds() -> None:
    """After expire (a cancelled reply) no call waits for the deadline any more."""
    now = anyio.current_time()
    window = DeliveryDeadline(now + 60)
    with window.bound(5.0) as scope:
        deadline.stretch(now + 50)
        window.expire()
        assert deadline.current() is None
        assert scope.deadline <= anyio.current_time() + 5.0
        deadline.stretch(now + 50)
        assert scope.deadline <= anyio.current_time() + 5.0


async def test_a_bound_expires_like_move_on_after() -> None:
    """A call that outlasts its (unstretched) bound is cancelled and the scope says so."""
    with DeliveryDeadline(anyio.current_time() + 60).bound(0.0) as scope:
        await anyio.sleep_forever()
    assert scope.cancelled_caught


async def test_the_deadline_reaches_child_tasks() -> None:
    """Work a call starts in a task of its own still sees the deadline (context copy)."""
    at = anyio.current_time() + 60
    seen: list[float | None] = []

    async def child() -> None:
        seen.append(deadline.current())

    with DeliveryDeadline(at).bound(5.0):
        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
    assert seen == [at]
