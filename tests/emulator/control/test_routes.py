"""The control API: world building, inbound, transcripts and the event stream."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import EventView
from bridge.emulator.errors import EmulatorError
from bridge.emulator.server import RunningEmulator
from tests.emulator.wire import ai_body, streaming


@pytest.mark.anyio
async def test_default_world(control: EmulatorControl) -> None:
    """The default world has one assistant, three users, a single chat, a group and a wand."""
    world = await control.world()
    assert [(a.client_id, a.kind) for a in world.apps] == [("dingbridge-dev", "assistant")]
    assert [u.user_id for u in world.users] == ["alice", "bob", "carol"]
    kinds = {c.id: (c.type, c.open_conversation_id) for c in world.conversations}
    assert kinds == {
        # A robot's conversationId of a single chat is no openConversationId.
        "cid-alice": ("single", "oc-cid-alice"),
        "cid-group": ("group", "cid-group"),
        "cid-wand-alice": ("magic_wand", ""),
    }
    group = next(c for c in world.conversations if c.id == "cid-group")
    assert (group.title, group.members) == ("研发群", ["alice", "bob", "carol"])


@pytest.mark.anyio
async def test_inbound_in_a_group(control: EmulatorControl, emulator: RunningEmulator) -> None:
    """A group message yields a ChatbotMessage with type "2" and the AI action parameters."""
    inbound = await control.inbound("bob", "cid-group", "@Bridge Dev 总结一下 @Carol")
    bot = inbound.chatbot_message
    assert bot["conversationType"] == "2"
    assert bot["conversationId"] == "cid-group"
    assert bot["conversationTitle"] == "研发群"
    assert bot["senderStaffId"] == "bob"
    assert bot["isInAtList"] is True
    assert bot["msgId"] == inbound.message.id
    # As on the platform: the bot's own @name is gone, the space after it and @Carol stay.
    assert bot["text"] == {"content": " 总结一下 @Carol"}
    assert inbound.action["rawInput"] == "@Bridge Dev 总结一下 @Carol"
    assert bot["sessionWebhook"].startswith(f"{emulator.base_url}/robot/sendBySession?session=")
    assert set(inbound.action) == {
        "rawInput",
        "userId",
        "unionId",
        "corpId",
        "openConversationId",
        "conversationToken",
        "sessionWebhook",
    }
    assert inbound.action["openConversationId"] == "cid-group"
    assert inbound.action["conversationToken"].startswith("ct_")
    [message] = await control.transcript("cid-group")
    assert (message.sender_id, message.text, message.state) == (
        "bob",
        "@Bridge Dev 总结一下 @Carol",
        "finished",
    )


@pytest.mark.anyio
async def test_group_mention_goes_in_front_when_the_text_lacks_it(
    control: EmulatorControl,
) -> None:
    """``at_bot`` with bare words is typed as the @ picker makes it: "@Bridge Dev <words>"."""
    inbound = await control.inbound("bob", "cid-group", "你好")
    assert inbound.message.text == "@Bridge Dev 你好"
    assert inbound.chatbot_message["text"] == {"content": " 你好"}
    assert inbound.action["rawInput"] == "@Bridge Dev 你好"
    similar = await control.inbound("bob", "cid-group", "@Bridge Developer 你好")
    assert similar.message.text == "@Bridge Dev @Bridge Developer 你好"


@pytest.mark.anyio
async def test_group_message_without_mention_is_not_delivered(
    control: EmulatorControl,
) -> None:
    """In a group only @mentions reach the bot: none by default, refused when forced."""
    plain = await control.inbound("bob", "cid-group", "hi all", at_bot=False)
    assert plain.delivery is not None
    assert plain.delivery.how == "none"
    assert plain.message.text == "hi all"
    with pytest.raises(EmulatorError, match="@-mention"):
        await control.inbound("bob", "cid-group", "hi all", at_bot=False, deliver="stream")


@pytest.mark.anyio
async def test_inbound_in_single_chat_and_magic_wand(control: EmulatorControl) -> None:
    """Single chats are type "1"; the magic wand has an empty openConversationId."""
    single = await control.inbound("alice", "cid-alice", "hi")
    assert (single.chatbot_message["conversationType"], single.chatbot_message["isInAtList"]) == (
        "1",
        False,
    )
    wand = await control.inbound("alice", "cid-wand-alice", "hi")
    assert wand.action["openConversationId"] == ""


@pytest.mark.anyio
async def test_custom_world(control: EmulatorControl) -> None:
    """Users, conversations and robot apps can be added; a robot gets no action parameters."""
    await control.create_user("dave", "Dave", union_id="u-dave")
    group = await control.create_conversation("group", ["dave", "alice"], title="ops")
    await control.register_app("robot-1", "s", kind="robot", robot_code="rc-1")
    inbound = await control.inbound("dave", group.id, "ping", client_id="robot-1")
    assert inbound.action == {}
    assert inbound.chatbot_message["robotCode"] == "rc-1"
    assert inbound.chatbot_message["senderUnionId"] == "u-dave"


@pytest.mark.anyio
async def test_control_errors(control: EmulatorControl, http: httpx2.AsyncClient) -> None:
    """Unknown ids are 404, conflicts 409, non-members 400 and bad bodies 422."""
    with pytest.raises(EmulatorError) as unknown:
        await control.inbound("ghost", "cid-alice", "x")
    assert unknown.value.status == 404
    with pytest.raises(EmulatorError) as stranger:
        await control.inbound("bob", "cid-alice", "x")
    assert stranger.value.status == 400
    with pytest.raises(EmulatorError) as duplicate:
        await control.create_user("alice", "again")
    assert duplicate.value.status == 409
    response = await http.post("/_emulator/conversations", json={"type": "party"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid body"


@pytest.mark.anyio
async def test_messages_by_state_find_unclosed_ones(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """Listing by state finds the message a client left inputting."""
    token = (await control.inbound("alice", "cid-alice", "hi")).action["conversationToken"]
    await http.post(
        "/v1.0/aiInteraction/reply", json=ai_body(token, streaming("half")), headers=auth
    )
    [open_message] = await control.messages("preparing", "inputting")
    assert (open_message.text, open_message.state) == ("half", "inputting")
    assert len(await control.messages()) == 2


@pytest.mark.anyio
async def test_reset_forgets_everything(control: EmulatorControl) -> None:
    """reset without defaults leaves an empty world and a fresh call log."""
    await control.inbound("alice", "cid-alice", "hi")
    world = await control.reset(defaults=False)
    assert (world.apps, world.users, world.conversations) == ([], [], [])
    assert await control.calls() == []


@pytest.mark.anyio
async def test_events_stream_message_changes_and_calls(
    http: httpx2.AsyncClient, auth: dict[str, str], control: EmulatorControl
) -> None:
    """The SSE stream sends message.changed and call.logged events in order."""
    received: list[EventView] = []
    async with control.events() as events:
        inbound = await control.inbound("alice", "cid-alice", "hi")
        token = inbound.action["conversationToken"]
        await http.post(
            "/v1.0/aiInteraction/reply", json=ai_body(token, streaming("yo")), headers=auth
        )
        with anyio.fail_after(10):
            async for event in events:
                received.append(event)
                if event.type == "call.logged":
                    break
    assert [e.type for e in received] == ["message.changed", "message.changed", "call.logged"]
    texts = [e.message.text if e.message else None for e in received]
    assert texts == ["hi", "yo", None]
    assert [e.call.status if e.call else None for e in received] == [None, None, 200]
