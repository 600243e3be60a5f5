"""Tests for bridge.dingtalk.auth: token cache, refresh margin, single flight, invalidate."""

from __future__ import annotations

import anyio
import pytest

from bridge.dingtalk.auth import AccessTokenProvider
from bridge.dingtalk.wire import AccessToken
from bridge.errors import PlatformAuthError, PlatformUnavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeIssuer:
    """Issues tok-1, tok-2… and can be held open to let callers pile up."""

    def __init__(self, lifetime: float = 7200.0) -> None:
        self.lifetime = lifetime
        self.calls = 0
        self.gate: anyio.Event | None = None
        self.started = anyio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self) -> AccessToken:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return AccessToken(f"tok-{self.calls}", self.lifetime)


@pytest.mark.anyio
async def test_token_is_cached_until_the_refresh_margin() -> None:
    """The same token is served until margin seconds before expiry, then refreshed."""
    clock, issuer = FakeClock(), FakeIssuer()
    tokens = AccessTokenProvider(issuer, refresh_margin=300, clock=clock)
    assert await tokens.get() == "tok-1"
    clock.now += 7200 - 301
    assert await tokens.get() == "tok-1"
    clock.now += 2
    assert await tokens.get() == "tok-2"
    assert issuer.calls == 2


@pytest.mark.anyio
async def test_margin_longer_than_lifetime_keeps_half() -> None:
    """A margin ≥ the lifetime does not refresh on every call: half the lifetime is used."""
    clock, issuer = FakeClock(), FakeIssuer(lifetime=10)
    tokens = AccessTokenProvider(issuer, refresh_margin=300, clock=clock)
    await tokens.get()
    clock.now += 4.9
    await tokens.get()
    assert issuer.calls == 1
    clock.now += 0.2
    await tokens.get()
    assert issuer.calls == 2


@pytest.mark.anyio
async def test_fifty_concurrent_callers_make_one_fetch() -> None:
    """Single flight: 50 concurrent get() calls share one fetch and one token."""
    issuer = FakeIssuer()
    issuer.gate = anyio.Event()
    tokens = AccessTokenProvider(issuer, clock=FakeClock())
    got: list[str] = []

    async def caller() -> None:
        got.append(await tokens.get())

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(caller)
        await issuer.started.wait()
        await anyio.wait_all_tasks_blocked()
        issuer.gate.set()
    assert issuer.calls == 1
    assert got == ["tok-1"] * 50
    assert tokens.fetches == 1


@pytest.mark.anyio
async def test_a_failed_fetch_fails_every_waiter_once() -> None:
    """Waiters of a failed fetch get its error; no second fetch is started for them."""
    issuer = FakeIssuer()
    issuer.gate = anyio.Event()
    issuer.fail_with = PlatformAuthError("bad secret", operation="oauth2.accessToken")
    tokens = AccessTokenProvider(issuer, clock=FakeClock())
    errors: list[BaseException] = []

    async def caller() -> None:
        try:
            await tokens.get()
        except PlatformAuthError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(caller)
        await issuer.started.wait()
        await anyio.wait_all_tasks_blocked()
        issuer.gate.set()
    assert issuer.calls == 1
    assert len(errors) == 5
    issuer.fail_with = None
    issuer.gate = None
    assert await tokens.get() == "tok-2"


@pytest.mark.anyio
async def test_a_cancelled_leader_hands_over_to_a_waiter() -> None:
    """If the fetching caller is cancelled, a waiter fetches instead of failing."""
    issuer = FakeIssuer()
    issuer.gate = anyio.Event()
    tokens = AccessTokenProvider(issuer, clock=FakeClock())
    got: list[str] = []

    async def follower() -> None:
        got.append(await tokens.get())

    async with anyio.create_task_group() as tg:
        async with anyio.create_task_group() as leader_group:
            leader_group.start_soon(tokens.get)
            await issuer.started.wait()
            tg.start_soon(follower)
            await anyio.wait_all_tasks_blocked()
            leader_group.cancel_scope.cancel()
        issuer.gate.set()
    assert got == ["tok-2"]
    assert issuer.calls == 2


@pytest.mark.anyio
async def test_invalidate_forces_one_refresh_for_the_refused_token_only() -> None:
    """invalidate(old) refreshes once; invalidating a token already replaced is a no-op."""
    issuer = FakeIssuer()
    tokens = AccessTokenProvider(issuer, clock=FakeClock())
    first = await tokens.get()
    tokens.invalidate(first)
    second = await tokens.get()
    tokens.invalidate(first)  # a late caller still holding the old token
    assert await tokens.get() == second == "tok-2"
    assert issuer.calls == 2


@pytest.mark.anyio
async def test_cached_does_not_fetch() -> None:
    """cached() answers None before the first fetch and never starts one."""
    issuer = FakeIssuer()
    tokens = AccessTokenProvider(issuer, clock=FakeClock())
    assert tokens.cached() is None
    assert issuer.calls == 0
    issuer.fail_with = PlatformUnavailable("down", operation="oauth2.accessToken")
    with pytest.raises(PlatformUnavailable):
        await tokens.get()


@pytest.mark.anyio
async def test_problem_is_none_until_a_fetch_fails_and_no_token_is_left() -> None:
    """problem() names the refusal only once no unexpired token is held; a success clears it."""
    clock, issuer = FakeClock(), FakeIssuer(lifetime=600)
    tokens = AccessTokenProvider(issuer, refresh_margin=300, clock=clock)
    assert tokens.problem() is None  # nothing tried yet
    await tokens.get()
    clock.now += 301  # due for refresh, still valid for 299 s
    issuer.fail_with = PlatformAuthError("invalidClientIdOrSecret", operation="oauth2.accessToken")
    with pytest.raises(PlatformAuthError):
        await tokens.get()
    assert tokens.problem() is None  # the old token still works
    clock.now += 300
    assert tokens.problem() is not None
    assert "invalidClientIdOrSecret" in tokens.problem()
    issuer.fail_with = None
    await tokens.get()
    assert tokens.problem() is None


@pytest.mark.anyio
async def test_a_refused_token_whose_refetch_fails_is_a_problem_at_once() -> None:
    """A token DingTalk refused is no token: if fetching another fails, problem() says why."""
    clock, issuer = FakeClock(), FakeIssuer()
    tokens = AccessTokenProvider(issuer, clock=clock)
    token = await tokens.get()
    tokens.invalidate(token)
    issuer.fail_with = PlatformUnavailable("down", operation="oauth2.accessToken", status=503)
    with pytest.raises(PlatformUnavailable):
        await tokens.get()
    assert tokens.problem() is not None
