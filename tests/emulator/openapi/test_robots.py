"""Robot sends (contract §4 K and L): batch one-to-one and group messages, and their limits."""

from __future__ import annotations

import json

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import LimitsView


@pytest.mark.anyio
async def test_robot_group_and_batch_send(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """groupMessages/send and oToMessages/batchSend post messages; unknown staff are listed."""
    param = json.dumps({"title": "t", "text": "公告"})
    group = await http.post(
        "/v1.0/robot/groupMessages/send",
        json={
            "robotCode": "dingbridge-dev",
            "openConversationId": "cid-group",
            "msgKey": "sampleMarkdown",
            "msgParam": param,
        },
        headers=auth,
    )
    assert set(group.json()) == {"processQueryKey"}
    batch = await http.post(
        "/v1.0/robot/oToMessages/batchSend",
        json={
            "robotCode": "dingbridge-dev",
            "userIds": ["alice", "ghost"],
            "msgKey": "sampleText",
            "msgParam": json.dumps({"content": "hello"}),
        },
        headers=auth,
    )
    body = batch.json()
    assert body["invalidStaffIdList"] == ["ghost"]
    assert body["flowControlledStaffIdList"] == body["filteredStaffIdList"] == []
    assert (await control.transcript("cid-group"))[-1].text == "公告"
    assert (await control.transcript("cid-alice"))[-1].text == "hello"


@pytest.mark.anyio
async def test_robot_send_limits(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """msgParam past the byte limit, a wrong robotCode or a bad msgKey is invalid.param."""
    await control.set_limits(LimitsView(msg_param_bytes=20))
    base = {
        "robotCode": "dingbridge-dev",
        "openConversationId": "cid-group",
        "msgKey": "sampleText",
    }
    cases = [
        {**base, "msgParam": json.dumps({"content": "长" * 10})},
        {**base, "robotCode": "other", "msgParam": "{}"},
        {**base, "msgKey": "sampleVoice", "msgParam": "{}"},
    ]
    for body in cases:
        response = await http.post("/v1.0/robot/groupMessages/send", json=body, headers=auth)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid.param"
