"""The factory builds and recovers through the registered kinds, and nothing else."""

from __future__ import annotations

import httpx2
import pytest

from bridge.config import AssistantConfig, DeliveryConfig, DingTalkConfig
from bridge.delivery import registry
from bridge.delivery.factory import SurfaceFactory
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.errors import ConfigError
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn, Webhook

pytestmark = pytest.mark.anyio

NOW = 1_000.0

#: A group Turn carrying every handle, so every built-in kind serves it.
EVERYTHING = Turn(
    assistant="a",
    source="stream_bot",
    conversation_type=ConversationType.GROUP,
    conversation_key="c",
    conversation_title="",
    sender=Sender(staff_id="s1", union_id="u1", nick="n"),
    text="hi",
    handles=ReplyHandles(
        conversation_token="ct",
        robot_webhook=Webhook("http://h/robot/sendBySession?session=1", expires_at=None),
        ai_webhook=Webhook("http://h/agent/send?session=aswh_1", expires_at=None),
        union_id="u1",
        open_conversation_id="ocid",
        conversation_id="cid",
        staff_id="s1",
        robot_code="r",
    ),
    received_at=NOW,
)


@pytest.fixture
async def factory(http: httpx2.AsyncClient) -> SurfaceFactory:
    """A factory whose client is never called: building makes no request."""
    client = DingTalkClient(
        http, DingTalkConfig(), client_id="c", client_secret="s", budget=RateBudget()
    )
    assistant = AssistantConfig(
        name="a",
        client_id="c",
        client_secret="s",  # type: ignore[arg-type]
        delivery=DeliveryConfig(ai_template_id="tpl.schema"),
    )
    return SurfaceFactory(client, assistant)


def test_every_built_in_kind_serves_a_turn_with_every_handle() -> None:
    """The fixture Turn is one every built-in kind can serve (so the next test covers all)."""
    assert [kind.name for kind in registry.kinds() if kind.serves(EVERYTHING, NOW)] == [
        kind.name for kind in registry.BUILT_IN
    ]


async def test_built_surfaces_report_their_kind(factory: SurfaceFactory) -> None:
    """Each built surface has its kind's name and flags: the relay reads them, not strings."""
    for kind in registry.kinds():
        surface = factory.build(EVERYTHING, kind.name)
        flags = (surface.name, surface.can_stream, surface.can_split)
        assert flags == (kind.name, kind.streams, kind.can_split)


def test_only_reply_mode_cannot_split() -> None:
    """ai_reply's one token drives one message; every other surface can continue."""
    assert [kind.name for kind in registry.kinds() if not kind.can_split] == ["ai_reply"]


async def test_a_one_shot_surface_has_nothing_to_recover(factory: SurfaceFactory) -> None:
    """Recovering a message of a surface that never opens one is a programming error."""
    with pytest.raises(ValueError, match="no open messages"):
        await factory.recover("robot_send", {}, "text")


async def test_an_unknown_surface_is_a_config_error(factory: SurfaceFactory) -> None:
    """Building or recovering a name no kind has names the known ones."""
    with pytest.raises(ConfigError, match="known: ai_reply, ai_stepwise"):
        factory.build(EVERYTHING, "fax")
    with pytest.raises(ConfigError, match="unknown surface 'fax'"):
        await factory.recover("fax", {}, "text")
