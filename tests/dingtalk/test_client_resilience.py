"""DingTalkClient under pressure, against the served emulator: tokens, rate, faults.

Counts come from the emulator's call log, never from timings.
"""

from __future__ import annotations

import socket

import anyio
import pytest

from bridge.config import DingTalkConfig
from bridge.dingtalk import wire
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.deadline import DeliveryDeadline
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import FaultSpec
from bridge.errors import (
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformUnavailable,
)
from tests.dingtalk.conftest import FAST_RETRY, TEMPLATE, MakeClient


def stream(text: str, *, finalize: bool = False) -> wire.StreamingCard:
    return wire.StreamingCard(TEMPLATE, "content", text, finalize=finalize)


async def prepared(client: DingTalkClient) -> str:
    return await client.prepare(wire.Target.user("union-alice"), wire.StaticCard(TEMPLATE))


@pytest.mark.anyio
async def test_fifty_concurrent_calls_make_one_token_request(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """50 callers needing a token at once cause exactly one accessToken request."""
    tokens: list[str] = []

    async def caller() -> None:
        tokens.append(await client.tokens.get())

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(caller)
    assert len(set(tokens)) == 1
    assert len(tokens) == 50
    assert len(await control.calls(operations=[Operation.ACCESS_TOKEN])) == 1


@pytest.mark.anyio
async def test_fifty_concurrent_sends_share_one_token_request(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """50 concurrent API calls from a cold client share one token request."""
    async with anyio.create_task_group() as tg:
        for index in range(50):
            tg.start_soon(client.send, wire.Target.user("union-alice"), wire.BasicCard(str(index)))
    calls = await control.calls()
    assert [c.operation for c in calls].count(Operation.ACCESS_TOKEN) == 1
    assert calls[0].operation == Operation.ACCESS_TOKEN
    assert [c.status for c in calls if c.operation == Operation.AI_SEND] == [200] * 50


@pytest.mark.anyio
async def test_expired_token_is_refreshed_and_the_call_retried_once(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """InvalidAuthentication after the platform expired the token → refresh, retry once."""
    token = await prepared(client)
    await control.advance_clock(7201)  # the emulator expires the token; our cache does not know
    since = (await control.calls())[-1].seq
    await client.update(token, stream("after expiry"))
    calls = await control.calls(since)
    assert [(c.operation, c.status, c.error_code) for c in calls] == [
        (Operation.AI_UPDATE, 400, "InvalidAuthentication"),
        (Operation.ACCESS_TOKEN, 200, None),
        (Operation.AI_UPDATE, 200, None),
    ]


@pytest.mark.anyio
async def test_a_hundred_updates_at_20_qps_get_no_403(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """A burst of 100 updates against the emulator's 20 QPS limit never hits a 403."""
    token = await prepared(client)
    async with anyio.create_task_group() as tg:
        for index in range(100):
            tg.start_soon(client.update, token, stream(f"text {index}"))
    updates = await control.calls(operations=[Operation.AI_UPDATE])
    assert len(updates) == 100
    assert [c.status for c in updates].count(403) == 0
    assert all(c.status == 200 for c in updates)


@pytest.mark.anyio
async def test_idempotent_call_is_retried_after_5xx(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Two system.error 500s on update are retried; the third attempt succeeds."""
    token = await prepared(client)
    await control.add_fault(FaultSpec(operation=Operation.AI_UPDATE, status=500, count=2))
    await client.update(token, stream("ok"))
    statuses = [c.status for c in await control.calls(operations=[Operation.AI_UPDATE])]
    assert statuses == [500, 500, 200]


@pytest.mark.anyio
async def test_retries_stop_after_the_configured_attempts(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """A persistent 504 on update fails with PlatformUnavailable after `attempts` calls."""
    token = await prepared(client)
    await control.add_fault(FaultSpec(operation=Operation.AI_UPDATE, status=504, code="-"))
    with pytest.raises(PlatformUnavailable) as caught:
        await client.update(token, stream("never"))
    assert caught.value.status == 504
    assert len(await control.calls(operations=[Operation.AI_UPDATE])) == FAST_RETRY.attempts


@pytest.mark.anyio
async def test_non_idempotent_call_is_not_retried_after_5xx(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """send may have happened: a 500 raises PlatformUnavailable after one call."""
    await control.add_fault(FaultSpec(operation=Operation.AI_SEND, status=500, count=1))
    with pytest.raises(PlatformUnavailable) as caught:
        await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    assert caught.value.code == "system.error"
    assert len(await control.calls(operations=[Operation.AI_SEND])) == 1


@pytest.mark.anyio
async def test_rate_limit_refusal_is_retried_even_for_send(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """A QPS 403 was not executed, so send waits and retries it."""
    await control.add_fault(
        FaultSpec(
            operation=Operation.AI_SEND,
            status=403,
            code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            count=1,
        )
    )
    await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    statuses = [c.status for c in await control.calls(operations=[Operation.AI_SEND])]
    assert statuses == [403, 200]


@pytest.mark.anyio
async def test_ip_ban_body_is_retried_after_its_wait(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """The IP-ban JSON body is a rate limit; the call is retried after `wait`."""
    ban = {"status": 1111, "wait": 0.05, "punish": "deny"}
    await control.add_fault(FaultSpec(operation=Operation.AI_SEND, status=403, body=ban, count=1))
    await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    statuses = [c.status for c in await control.calls(operations=[Operation.AI_SEND])]
    assert statuses == [403, 200]


@pytest.mark.anyio
async def test_persistent_rate_limit_surfaces_as_rate_limited(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Outside a reply's deadline every attempt counts: PlatformRateLimited after them."""
    await control.add_fault(
        FaultSpec(
            operation=Operation.AI_SEND, status=403, code="Forbidden.AccessDenied.QpsLimitForApi"
        )
    )
    with pytest.raises(PlatformRateLimited):
        await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    assert len(await control.calls(operations=[Operation.AI_SEND])) == FAST_RETRY.attempts


QPS_LIMITED = FaultSpec(
    operation=Operation.AI_SEND, status=403, code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
)


@pytest.mark.anyio
async def test_a_rate_limit_window_longer_than_attempts_is_waited_out(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Inside a reply's deadline, 30 QpsLimit answers in a row do not use up 4 attempts."""
    await control.add_fault(QPS_LIMITED.model_copy(update={"count": 30}))
    with DeliveryDeadline.after(60).bound(5.0):
        await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    statuses = [c.status for c in await control.calls(operations=[Operation.AI_SEND])]
    assert statuses == [403] * 30 + [200]


@pytest.mark.anyio
async def test_concurrent_calls_wait_out_one_window_together(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Five sends refused 20 times between them all go through once the window ends."""
    await control.add_fault(QPS_LIMITED.model_copy(update={"count": 20}))

    async def send(index: int) -> None:
        with DeliveryDeadline.after(60).bound(5.0):
            await client.send(wire.Target.user("union-alice"), wire.BasicCard(str(index)))

    async with anyio.create_task_group() as tg:
        for index in range(5):
            tg.start_soon(send, index)
    statuses = [c.status for c in await control.calls(operations=[Operation.AI_SEND])]
    assert (statuses.count(403), statuses.count(200)) == (20, 5)


@pytest.mark.anyio
async def test_a_robot_send_too_fast_is_waited_out(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """400 send.too.fast (the robot send throttle) executed nothing: it is retried."""
    await control.add_fault(
        FaultSpec(operation=Operation.ROBOT_GROUP_SEND, status=400, code="send.too.fast", count=6)
    )
    with DeliveryDeadline.after(60).bound(5.0):
        await client.robot_group_send("cid-group", wire.Markdown("T", "x"))
    statuses = [c.status for c in await control.calls(operations=[Operation.ROBOT_GROUP_SEND])]
    assert statuses == [400] * 6 + [200]


@pytest.mark.anyio
async def test_used_up_quota_is_not_waited_for_within_a_deadline(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """ApiCountLimitForOrg is no rate limit: one call, then PlatformQuotaExceeded."""
    await control.set_quota("dingbridge-dev", 0)
    with DeliveryDeadline.after(60).bound(5.0), pytest.raises(PlatformQuotaExceeded):
        await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    assert len(await control.calls(operations=[Operation.AI_SEND])) == 1


@pytest.mark.anyio
async def test_a_5xx_within_a_deadline_still_stops_after_the_attempts(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """The deadline is for rate limits only: a persistent 504 gets `attempts` calls."""
    token = await prepared(client)
    await control.add_fault(FaultSpec(operation=Operation.AI_UPDATE, status=504, code="-"))
    with DeliveryDeadline.after(60).bound(5.0), pytest.raises(PlatformUnavailable):
        await client.update(token, stream("never"))
    assert len(await control.calls(operations=[Operation.AI_UPDATE])) == FAST_RETRY.attempts


@pytest.mark.anyio
async def test_permission_denied_is_final(client: DingTalkClient, control: EmulatorControl) -> None:
    """A missing scope (403 AccessTokenPermissionDenied) is raised after one call."""
    await control.add_fault(
        FaultSpec(
            operation=Operation.CARD_STREAMING,
            status=403,
            code="Forbidden.AccessDenied.AccessTokenPermissionDenied",
        )
    )
    with pytest.raises(PlatformPermissionDenied):
        await client.card_streaming("t", "msgContent", "x")
    assert len(await control.calls(operations=[Operation.CARD_STREAMING])) == 1


@pytest.mark.anyio
async def test_used_up_quota_is_quota_exceeded(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """The org's monthly quota raises PlatformQuotaExceeded, not retried."""
    await control.set_quota("dingbridge-dev", 0)
    with pytest.raises(PlatformQuotaExceeded):
        await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    assert len(await control.calls(operations=[Operation.AI_SEND])) == 1


@pytest.mark.anyio
async def test_slow_answer_times_out_as_unavailable(
    make_client: MakeClient, control: EmulatorControl, config: DingTalkConfig
) -> None:
    """No answer within config.timeout raises PlatformUnavailable; send is not retried."""
    client = make_client(config=config.model_copy(update={"timeout": 0.2}))
    await client.tokens.get()
    await control.add_fault(FaultSpec(operation=Operation.AI_SEND, latency=1.0, count=1))
    with pytest.raises(PlatformUnavailable, match=r"no answer within 0\.2 s"):
        await client.send(wire.Target.user("union-alice"), wire.BasicCard("x"))


@pytest.mark.anyio
async def test_slow_idempotent_call_is_retried_after_a_timeout(
    make_client: MakeClient, control: EmulatorControl, config: DingTalkConfig
) -> None:
    """An update that timed out is sent again and succeeds."""
    client = make_client(config=config.model_copy(update={"timeout": 0.2}))
    token = await prepared(client)
    await control.add_fault(FaultSpec(operation=Operation.AI_UPDATE, latency=1.0, count=1))
    await client.update(token, stream("eventually"))
    messages = await control.transcript("cid-alice")
    assert messages[-1].text == "eventually"


@pytest.mark.anyio
async def test_connection_refused_is_unavailable(make_client: MakeClient) -> None:
    """Nothing listening: PlatformUnavailable, retried only for idempotent operations."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    client = make_client(config=DingTalkConfig(api_base=base, oapi_base=base, retry=FAST_RETRY))
    with pytest.raises(PlatformUnavailable) as caught:
        await client.robot_webhook(f"{base}/robot/sendBySession?session=abc", wire.Text("x"))
    assert caught.value.operation == "robot.sendBySession"
    assert "abc" not in str(caught.value)
