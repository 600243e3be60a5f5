"""DingTalkClient against the served emulator: the token and the AI assistant's operations.

Each test drives one operation of the wire contract over loopback and checks what a
chat user would see (the emulator's transcript) or the typed error the client raised.
This module covers the access token, reply mode (B) and proactive mode (C, D, E, F);
session webhooks, cards and robot send (G to L) are in test_client_e2e_robot.py.
"""

from __future__ import annotations

import pytest

from bridge.dingtalk import wire
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.errors import (
    InvalidConversationToken,
    PlatformAuthError,
    PlatformPermissionDenied,
    PlatformRejected,
)
from tests.dingtalk.card_templates import CARD_KEY, CARD_TEMPLATE
from tests.dingtalk.conftest import TEMPLATE, MakeClient

KEY = "content"


def stream(text: str, *, finalize: bool = False) -> wire.StreamingCard:
    return wire.StreamingCard(TEMPLATE, KEY, text, finalize=finalize)


async def reply_token(control: EmulatorControl, conversation: str = "cid-alice") -> str:
    inbound = await control.inbound("alice", conversation, "你好")
    return inbound.action["conversationToken"]


# ------------------------------------------------------------------------------ token


@pytest.mark.anyio
async def test_access_token_is_fetched_once_and_reused(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Two calls share one token request; the token goes in the documented header."""
    token = await reply_token(control)
    await client.reply(token, stream("a"))
    await client.reply(token, stream("ab", finalize=True))
    calls = await control.calls()
    assert [c.operation for c in calls] == [
        Operation.ACCESS_TOKEN,
        Operation.AI_REPLY,
        Operation.AI_REPLY,
    ]


@pytest.mark.anyio
async def test_bad_secret_is_an_auth_error_without_retry(
    make_client: MakeClient, control: EmulatorControl
) -> None:
    """invalidClientIdOrSecret raises PlatformAuthError after one token request."""
    client = make_client(client_secret="wrong")
    with pytest.raises(PlatformAuthError) as caught:
        await client.finish("ct_whatever")
    assert caught.value.code == "invalidClientIdOrSecret"
    assert caught.value.operation == "oauth2.accessToken"
    assert caught.value.request_id
    assert len(await control.calls()) == 1


# ---------------------------------------------------------------------- reply mode (B)


@pytest.mark.anyio
async def test_reply_streams_and_finalizes(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Full-text replies grow one message, and isFinalize finishes it."""
    token = await reply_token(control)
    await client.reply(token, stream("Hel"))
    await client.reply(token, stream("Hello, **world**"))
    await client.reply(token, stream("Hello, **world**!", finalize=True))
    bot = [m for m in await control.transcript("cid-alice") if m.sender_kind == "bot"]
    assert len(bot) == 1
    assert (bot[0].text, bot[0].state) == ("Hello, **world**!", "finished")
    assert [c.text for c in bot[0].changes][-1] == "Hello, **world**!"


@pytest.mark.anyio
async def test_reply_works_in_the_magic_wand(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """Reply mode serves the magic-wand conversation unchanged."""
    token = await reply_token(control, "cid-wand-alice")
    await client.reply(token, stream("魔法", finalize=True))
    bot = [m for m in await control.transcript("cid-wand-alice") if m.sender_kind == "bot"]
    assert [m.text for m in bot] == ["魔法"]


@pytest.mark.anyio
async def test_reply_with_unknown_token_is_invalid_conversation_token(
    client: DingTalkClient,
) -> None:
    """An unknown conversationToken raises InvalidConversationToken."""
    with pytest.raises(InvalidConversationToken) as caught:
        await client.reply("ct_unknown", stream("x"))
    assert (caught.value.status, caught.value.code) == (400, "invalid.conversation.token")
    assert caught.value.operation == "aiInteraction.reply"


@pytest.mark.anyio
async def test_reply_after_finalize_is_invalid_conversation_token(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """A finished message accepts no more content."""
    token = await reply_token(control)
    await client.reply(token, stream("done", finalize=True))
    with pytest.raises(InvalidConversationToken):
        await client.reply(token, stream("more"))


@pytest.mark.anyio
async def test_reply_with_unknown_template_is_rejected(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """An unknown templateId is a PlatformRejected invalid.content."""
    token = await reply_token(control)
    with pytest.raises(PlatformRejected) as caught:
        await client.reply(token, wire.StreamingCard("nope.schema", KEY, "x"))
    assert caught.value.code == "invalid.content"
    assert "template" in caught.value.message


@pytest.mark.anyio
async def test_changing_the_pinned_template_is_rejected(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """The template is pinned to the token after its first use."""
    token = await reply_token(control)
    await client.reply(token, stream("x"))
    with pytest.raises(PlatformRejected) as caught:
        await client.reply(token, wire.StreamingCard(CARD_TEMPLATE, CARD_KEY, "x"))
    assert caught.value.code == "invalid.content"


@pytest.mark.anyio
async def test_bad_streaming_key_is_rejected(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """A streaming key the template does not stream is rejected."""
    token = await reply_token(control)
    with pytest.raises(PlatformRejected, match="key"):
        await client.reply(token, wire.StreamingCard(TEMPLATE, "nope", "x"))


@pytest.mark.anyio
async def test_static_reply_finishes_the_message(
    client: DingTalkClient, control: EmulatorControl
) -> None:
    """A static reply is a whole answer."""
    token = await reply_token(control)
    await client.reply(token, wire.StaticCard(TEMPLATE, {KEY: "static answer"}))
    bot = [m for m in await control.transcript("cid-alice") if m.sender_kind == "bot"]
    assert [(m.text, m.state) for m in bot] == [("static answer", "finished")]


# ------------------------------------------------------------- proactive mode (C, D, E, F)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("target", "conversation"),
    [
        (wire.Target.user("union-alice"), "cid-alice"),
        (wire.Target.conversation("cid-group"), "cid-group"),
    ],
)
async def test_prepare_update_finish(
    client: DingTalkClient, control: EmulatorControl, target: wire.Target, conversation: str
) -> None:
    """prepare opens a preparing bubble, updates fill it, finish closes it."""
    token = await client.prepare(target, wire.StaticCard(TEMPLATE))
    assert token.startswith("ct_")
    [opened] = await control.transcript(conversation)
    assert opened.state == "preparing"
    await client.update(token, stream("第一"))
    await client.update(token, stream("第一段", finalize=True))
    await client.finish(token)
    message = await control.message(opened.id)
    assert (message.text, message.state) == ("第一段", "finished")
    assert [c.state for c in message.changes][:2] == ["preparing", "inputting"]


@pytest.mark.anyio
async def test_prepare_with_unknown_union_id_is_rejected(client: DingTalkClient) -> None:
    """invalid.param "invalid unionId" is a PlatformRejected."""
    with pytest.raises(PlatformRejected) as caught:
        await client.prepare(wire.Target.user("union-nobody"), wire.StaticCard(TEMPLATE))
    assert type(caught.value) is PlatformRejected
    assert (caught.value.code, caught.value.message) == ("invalid.param", "invalid unionId")


@pytest.mark.anyio
async def test_update_and_finish_after_finish_are_invalid(client: DingTalkClient) -> None:
    """A finished token refuses update and a second finish."""
    token = await client.prepare(wire.Target.user("union-alice"), wire.StaticCard(TEMPLATE))
    await client.finish(token)
    with pytest.raises(InvalidConversationToken):
        await client.update(token, stream("late"))
    with pytest.raises(InvalidConversationToken):
        await client.finish(token)


@pytest.mark.anyio
async def test_send_basic_card(client: DingTalkClient, control: EmulatorControl) -> None:
    """send delivers one finished basic card (either success body form is accepted)."""
    await client.send(
        wire.Target.conversation("cid-group"), wire.BasicCard("整段回答", title="标题")
    )
    [message] = await control.transcript("cid-group")
    assert (message.text, message.state, message.via) == (
        "标题\n整段回答",
        "finished",
        "aiInteraction.send",
    )


@pytest.mark.anyio
async def test_send_to_unknown_conversation_is_rejected(client: DingTalkClient) -> None:
    """An unknown openConversationId is PlatformRejected invalid.param."""
    with pytest.raises(PlatformRejected) as caught:
        await client.send(wire.Target.conversation("cid-nowhere"), wire.BasicCard("x"))
    assert caught.value.code == "invalid.param"


@pytest.mark.anyio
async def test_ai_calls_of_a_plain_robot_are_permission_denied(
    make_client: MakeClient, control: EmulatorControl
) -> None:
    """A token of another (robot) app gets "ai assistant not found": permission denied."""
    await control.register_app("robot-app", "robot-secret", kind="robot")
    robot = make_client(client_id="robot-app", client_secret="robot-secret")
    with pytest.raises(PlatformPermissionDenied) as caught:
        await robot.send(wire.Target.user("union-alice"), wire.BasicCard("x"))
    assert caught.value.code == "invalid.param"
