"""The router offers only surfaces a Turn can use, in the configured order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.config import DeliveryConfig
from bridge.delivery.router import SurfaceHealth, candidates
from bridge.errors import ConfigError
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn, Webhook

PREFER = DeliveryConfig().prefer
NOW = 1_000.0


def turn(kind: ConversationType, **handles: object) -> Turn:
    return Turn(
        assistant="a",
        source="stream_bot",
        conversation_type=kind,
        conversation_key="c",
        conversation_title="",
        sender=Sender(staff_id=None, union_id=None, nick="n"),
        text="hi",
        handles=ReplyHandles(**handles),  # type: ignore[arg-type]
        received_at=NOW,
    )


def test_reply_mode_first_for_an_ai_action() -> None:
    """A token and an AI webhook: reply stream first, then the webhook."""
    t = turn(
        ConversationType.MAGIC_WAND,
        conversation_token="ct",
        ai_webhook=Webhook("http://h/agent/send?session=aswh_1", expires_at=NOW + 60),
    )
    assert candidates(t, PREFER, SurfaceHealth(), now=NOW) == ["ai_reply", "ai_webhook"]


def test_magic_wand_never_gets_a_proactive_surface() -> None:
    """Without reply handles the magic wand has no candidate at all."""
    t = turn(ConversationType.MAGIC_WAND, union_id="u", robot_code="r", staff_id="s")
    assert candidates(t, PREFER, SurfaceHealth(), now=NOW) == []


def test_group_bot_message_candidates() -> None:
    """A group robot message: stepwise, card, robot webhook, robot send."""
    t = turn(
        ConversationType.GROUP,
        robot_webhook=Webhook("http://h/robot/sendBySession?session=1", expires_at=NOW + 600),
        open_conversation_id="cid",
        conversation_id="cid",
        robot_code="r",
    )
    assert candidates(t, PREFER, SurfaceHealth(), now=NOW) == [
        "ai_stepwise",
        "ai_card",
        "robot_webhook",
        "robot_send",
    ]


def test_single_chat_proactive_by_union_id() -> None:
    """A single chat is reachable proactively with only the user's unionId."""
    t = turn(ConversationType.SINGLE, union_id="union-1")
    assert candidates(t, PREFER, SurfaceHealth(), now=NOW) == ["ai_stepwise"]


def test_expired_webhook_is_skipped() -> None:
    """A webhook past (or within seconds of) its expiry is not a candidate."""
    hook = Webhook("http://h/robot/sendBySession?session=1", expires_at=NOW + 2)
    t = turn(ConversationType.GROUP, robot_webhook=hook)
    assert candidates(t, PREFER, SurfaceHealth(), now=NOW) == []
    later = replace(t, handles=ReplyHandles(robot_webhook=replace(hook, expires_at=NOW + 60)))
    assert candidates(later, PREFER, SurfaceHealth(), now=NOW) == ["robot_webhook"]


def test_surface_marked_down_is_skipped_until_it_recovers() -> None:
    """A surface marked down is skipped for down_for seconds, per assistant."""
    t = turn(ConversationType.GROUP, conversation_token="ct", open_conversation_id="cid")
    health = SurfaceHealth()
    health.mark_down("a", "ai_reply", now=NOW, down_for=300)
    assert candidates(t, PREFER, health, now=NOW + 1) == ["ai_stepwise"]
    assert candidates(replace(t, assistant="b"), PREFER, health, now=NOW + 1)[0] == "ai_reply"
    assert candidates(t, PREFER, health, now=NOW + 301)[0] == "ai_reply"


def test_configured_order_is_kept() -> None:
    """The preference list decides the order, and leaves out what it does not name."""
    t = turn(ConversationType.GROUP, conversation_token="ct", open_conversation_id="cid")
    assert candidates(t, ("ai_stepwise", "ai_reply"), SurfaceHealth(), now=NOW) == [
        "ai_stepwise",
        "ai_reply",
    ]


def test_an_unregistered_name_is_an_error_not_skipped() -> None:
    """A name no kind has (config validation lets none through) raises, naming the key."""
    t = turn(ConversationType.GROUP, conversation_token="ct")
    with pytest.raises(ConfigError, match=r"^delivery\.prefer: unknown surface 'fax'"):
        candidates(t, ("ai_reply", "fax"), SurfaceHealth(), now=NOW)
