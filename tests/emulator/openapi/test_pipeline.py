"""What every request goes through: faults, QPS, quota and the call log."""

from __future__ import annotations

import httpx2
import pytest

from bridge.emulator.app import create_app
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import FaultSpec, LimitsView
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.openapi.faults import RateLimiter
from bridge.emulator.server import running_emulator
from bridge.emulator.state import Emulator
from tests.emulator.wire import ai_body, streaming

FINISH = "/v1.0/aiInteraction/finish"
REPLY = "/v1.0/aiInteraction/reply"


async def _finish_codes(http: httpx2.AsyncClient, auth: dict[str, str], n: int) -> list[str]:
    codes = []
    for _ in range(n):
        response = await http.post(FINISH, json={"conversationToken": "ct_x"}, headers=auth)
        codes.append(response.json()["code"])
    return codes


@pytest.mark.anyio
async def test_qps_limit_rejects_without_consuming() -> None:
    """Past the per-operation limit calls get 403 QpsLimitForAppkeyAndApi; others are untouched."""
    frozen = Emulator.with_defaults(monotonic=lambda: 100.0)
    async with (
        running_emulator(frozen) as running,
        httpx2.AsyncClient(base_url=running.base_url) as http,
    ):
        control = EmulatorControl(http, running.base_url)
        await control.set_qps(2, Api.AI_FINISH)
        token = (
            await http.post(
                "/v1.0/oauth2/accessToken",
                json={"appKey": "dingbridge-dev", "appSecret": "dev-secret"},
            )
        ).json()["accessToken"]
        auth = {"x-acs-dingtalk-access-token": token}
        codes = await _finish_codes(http, auth, 4)
        assert (
            codes
            == ["invalid.conversation.token"] * 2
            + ["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"] * 2
        )
        limited = await http.post(FINISH, json={}, headers=auth)
        assert limited.status_code == 403
        assert set(limited.json()) == {"code", "requestid", "message"}
        other = await http.post(REPLY, json=ai_body("ct_x", streaming("a")), headers=auth)
        assert other.json()["code"] == "invalid.conversation.token"


def test_rate_window_slides_and_rejections_take_no_slot() -> None:
    """A full window frees up one second after its oldest call; refused calls do not count."""
    now = [0.0]
    limiter = RateLimiter(lambda: now[0])
    limits = LimitsView(qps=2)
    admitted = []
    for at in (0.0, 0.5, 0.9, 0.95, 1.0, 1.2, 1.5):
        now[0] = at
        admitted.append(limiter.admit("app", Api.AI_UPDATE, limits))
    assert admitted == [True, True, False, False, True, False, True]


@pytest.mark.anyio
async def test_monthly_quota(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """When the monthly quota is used up, calls get 403 ApiCountLimitForOrg."""
    app = await control.set_quota("dingbridge-dev", 2)
    assert app.monthly_quota == 2
    codes = await _finish_codes(http, auth, 3)
    assert codes == ["invalid.conversation.token"] * 2 + [
        "Forbidden.AccessDenied.ApiCountLimitForOrg"
    ]


@pytest.mark.anyio
async def test_fault_after_and_count(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A fault skips its first ``after`` calls, then fires ``count`` times with its status."""
    fault = await control.add_fault(
        FaultSpec(operation=Api.AI_FINISH, status=500, code="system.error", after=1, count=2)
    )
    statuses = []
    for _ in range(4):
        response = await http.post(FINISH, json={"conversationToken": "ct_x"}, headers=auth)
        statuses.append(response.status_code)
    assert statuses == [400, 500, 500, 400]
    [view] = await control.faults()
    assert (view.id, view.seen, view.fired) == (fault.id, 3, 2)
    assert await control.clear_faults() == 1


@pytest.mark.anyio
async def test_fault_with_raw_body_and_latency(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """A fault may answer a raw body (the IP ban); the log still names the caller."""
    ban = {"status": 1111, "wait": 5, "punish": "deny"}
    await control.add_fault(
        FaultSpec(operation=Api.AI_REPLY, status=403, body=ban, latency=0.05, count=1)
    )
    response = await http.post(REPLY, json=ai_body("ct_x", streaming("a")), headers=auth)
    assert (response.status_code, response.json()) == (403, ban)
    [call] = await control.calls(operations=[Api.AI_REPLY])
    assert (call.status, call.response, call.app) == (403, ban, "dingbridge-dev")


@pytest.mark.anyio
async def test_latency_only_fault_lets_the_call_succeed(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """A fault without a status only delays the answer."""
    await control.add_fault(FaultSpec(operation=Api.ACCESS_TOKEN, latency=0.01, count=1))
    statuses = []
    for _ in range(2):
        response = await http.post(
            "/v1.0/oauth2/accessToken",
            json={"appKey": "dingbridge-dev", "appSecret": "dev-secret"},
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200]
    [fault] = await control.faults()
    assert (fault.seen, fault.fired) == (1, 1)


@pytest.mark.anyio
async def test_fault_rate_is_deterministic(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """With the same seed, a partial-rate fault fails the same calls after each reset."""
    runs = []
    for _ in range(2):
        await control.reset()
        await control.add_fault(FaultSpec(operation=Api.AI_FINISH, status=503, rate=0.5))
        token = (
            await http.post(
                "/v1.0/oauth2/accessToken",
                json={"appKey": "dingbridge-dev", "appSecret": "dev-secret"},
            )
        ).json()["accessToken"]
        headers = {"x-acs-dingtalk-access-token": token}
        statuses = []
        for _ in range(12):
            response = await http.post(FINISH, json={"conversationToken": "x"}, headers=headers)
            statuses.append(response.status_code)
        runs.append(statuses)
    assert runs[0] == runs[1]
    assert 0 < runs[0].count(503) < 12
    del auth


@pytest.mark.anyio
async def test_webhook_fault_uses_errcode_body(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """A fault on a webhook answers in the webhook's errcode shape."""
    url = (await control.inbound("alice", "cid-alice", "hi")).chatbot_message["sessionWebhook"]
    await control.add_fault(
        FaultSpec(operation=Api.ROBOT_WEBHOOK, status=200, code="300001", message="gone")
    )
    response = await http.post(url, json={"msgtype": "text", "text": {"content": "x"}})
    assert response.json() == {"errcode": 300001, "errmsg": "gone"}


@pytest.mark.anyio
async def test_call_log_records_every_call_in_order(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """Successes and errors are logged with seq, operation, status and error code; since filters."""
    start = (await control.calls())[-1].seq
    await http.post(FINISH, json={"conversationToken": "nope"}, headers=auth)
    await http.post(FINISH, content=b"not json", headers=auth)
    calls = await control.calls(since=start)
    assert [c.seq for c in calls] == [start + 1, start + 2]
    first, second = calls
    assert (first.operation, first.status, first.error_code) == (
        Api.AI_FINISH,
        400,
        "invalid.conversation.token",
    )
    assert first.request == {"conversationToken": "nope"}
    assert first.path == FINISH
    assert (second.request, second.error_code) == ("not json", "InvalidParameter")


@pytest.mark.anyio
async def test_a_caller_hanging_up_mid_body_is_dropped_unlogged() -> None:
    """A request whose caller disconnects before its body arrives is neither served nor logged.

    Driven through the ASGI app: the disconnect must come while the handler reads the body,
    which a socket cannot time. Unhandled, uvicorn logs an ERROR traceback for each one.
    """
    world = Emulator.with_defaults()
    app = create_app(world)
    messages = iter(
        [
            {"type": "http.request", "body": b'{"conversationToken": "ct', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": FINISH,
        "raw_path": FINISH.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [499]
    assert world.calls.since() == []
