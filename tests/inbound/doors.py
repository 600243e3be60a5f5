"""Test helpers for the HTTP doors' tests (test_http*.py): the served app's state, a
robot callback body and its signature headers.

The ``door`` fixture that serves the app is in tests/inbound/conftest.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

from bridge.admission import ACCEPTED, Admission
from bridge.dingtalk.signature import sign
from bridge.inbound.push import PushRequest
from bridge.turn import Turn

__all__ = ["ACTION_TOKEN", "PUSH_TOKEN", "ROBOT_CODE", "SECRET", "Door", "robot_message", "signed"]

SECRET = "robot-secret"
ACTION_TOKEN = "action-token"
PUSH_TOKEN = "push-token"
ROBOT_CODE = "ding-robot"


@dataclass
class Door:
    """A served app plus what it handed over, and what its pipeline stand-in answers."""

    url: str
    http: httpx2.AsyncClient
    turns: list[Turn] = field(default_factory=list)
    pushes: list[PushRequest] = field(default_factory=list)
    admission: Admission = ACCEPTED
    push_result: dict[str, Any] = field(default_factory=lambda: {"ok": True})
    crash: BaseException | None = None
    skew: float = 0.0  # seconds added to the door's clock
    fatal: list[BaseException] = field(default_factory=list)


def robot_message(**overrides: Any) -> dict[str, Any]:
    message = {
        "conversationId": "cid1",
        "conversationType": "1",
        "msgId": "m1",
        "msgtype": "text",
        "text": {"content": "hello"},
        "senderStaffId": "s1",
        "senderNick": "Alice",
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x",
        "sessionWebhookExpiredTime": int(time.time() * 1000) + 600_000,
    }
    message.update(overrides)
    return message


def signed(timestamp_ms: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    return {"timestamp": stamp, "sign": sign(stamp, secret)}
