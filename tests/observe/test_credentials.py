"""`watch_tokens`: tokens kept fresh, refusals noticed and retried without any message."""

from __future__ import annotations

import anyio
import pytest

from bridge.dingtalk.auth import AccessTokenProvider
from bridge.dingtalk.wire import AccessToken
from bridge.errors import PlatformAuthError
from bridge.observe.credentials import watch_tokens

pytestmark = pytest.mark.anyio


class Issuer:
    """Issues tokens that expire at once (every round fetches), refusing while ``refuse``."""

    def __init__(self) -> None:
        self.refuse = False
        self.fetches = 0
        self.fetched = anyio.Event()

    async def __call__(self) -> AccessToken:
        self.fetches += 1
        self.fetched.set()
        self.fetched = anyio.Event()
        if self.refuse:
            raise PlatformAuthError("invalidClientIdOrSecret", operation="oauth2.accessToken")
        return AccessToken(f"tok-{self.fetches}", 0.0)

    async def rounds(self, count: int) -> None:
        """Wait until ``count`` more fetches happened."""
        for _ in range(count):
            await self.fetched.wait()


async def test_a_refusal_is_noticed_and_recovered_without_traffic() -> None:
    """Refused credentials make problem() say so; once accepted again, the watch clears it."""
    issuer = Issuer()
    tokens = AccessTokenProvider(issuer, refresh_margin=0.0)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: watch_tokens({"dev": tokens}, interval=0.01))
            await issuer.rounds(1)
            issuer.refuse = True
            await issuer.rounds(2)  # the second fetch after the switch surely saw it
            assert tokens.problem() is not None
            issuer.refuse = False
            await issuer.rounds(2)
            assert tokens.problem() is None
            tg.cancel_scope.cancel()


async def test_a_failing_provider_does_not_stop_the_others() -> None:
    """One assistant's refusal never keeps another's token from being fetched."""
    refused, fine = Issuer(), Issuer()
    refused.refuse = True
    providers = {
        "refused": AccessTokenProvider(refused, refresh_margin=0.0),
        "fine": AccessTokenProvider(fine, refresh_margin=0.0),
    }
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: watch_tokens(providers, interval=0.01))
            await fine.rounds(3)
            tg.cancel_scope.cancel()
    assert providers["refused"].problem() is not None
    assert providers["fine"].problem() is None
