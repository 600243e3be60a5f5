"""Chat details through `bridge serve`'s wiring: mentions, prompts, targets, the gateway.

What a user of a group or a single chat would notice, end to end against the emulator,
which delivers messages as the platform does (the robot's own @name already removed
from a robot message, kept in an AI action's raw input) and whose gateway answers its
ticket as XML unless asked for JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bridge.dingtalk.operations import Operation
from bridge.emulator.control.views import CallView
from bridge.emulator.model.reply import EmissionView
from bridge.emulator.state import DEFAULT_APP, DEFAULT_APP_NAME, DEFAULT_SECRET
from tests.serve.conftest import ACTION_TOKEN, ROOT, Served, answer_in

pytestmark = pytest.mark.anyio

ASSISTANT = {
    "name": "dev",
    "client_id": DEFAULT_APP,
    "client_secret": DEFAULT_SECRET,
    "action_token": ACTION_TOKEN,
    "display_names": [DEFAULT_APP_NAME],
}


def asked(served: Served, marker: str) -> EmissionView:
    """The model's completion whose user message holds ``marker``."""
    found = [e for e in served.model.emissions() if marker in e.user]
    assert found, f"the model never saw {marker!r}"
    return found[-1]


def calls_of(calls: list[CallView], operation: Operation) -> list[CallView]:
    return [c for c in calls if c.operation == operation.value]


@pytest.mark.parametrize(
    ("door", "group_prompt"),
    [
        # A robot message names the group and the sender.
        ("robot", 'group "研发群".\nBob mentioned you.'),
        # An action's context names neither; its @mention says it is a group.
        ("action", 'group "".\n用户 mentioned you.'),
    ],
)
async def test_group_mention_of_the_assistant_reaches_the_model_without_it(
    serve: Callable[..., Any], door: str, group_prompt: str
) -> None:
    """ "@Bridge Dev 你好" in the group reaches the model as "你好"; @Carol stays."""
    async with serve(assistants=[ASSISTANT]) as served:
        said = await served.control.inbound(
            "bob", "cid-group", f"@{DEFAULT_APP_NAME} 你好 @Carol", door=door
        )
        await answer_in(served.control, "cid-group", said.message.created_at)
    assert said.message.text == "@Bridge Dev 你好 @Carol"  # what bob typed
    emission = asked(served, "你好")
    assert emission.user == "你好 @Carol"
    assert group_prompt in emission.prompt[0].content


async def test_bare_words_in_the_group_are_answered_like_a_mention(
    serve: Callable[..., Any],
) -> None:
    """The emulator's @ picker puts the mention in front; the model gets only the words."""
    async with serve(assistants=[ASSISTANT]) as served:
        said = await served.control.inbound("bob", "cid-group", "早上好")
        await answer_in(served.control, "cid-group", said.message.created_at)
    assert asked(served, "早上好").user == "早上好"


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    """The repository's prompts plus a single-chat one that says which it is."""
    folder = tmp_path / "prompts"
    folder.mkdir()
    for source in (ROOT / "prompts").glob("*.md"):
        (folder / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "default.single.md").write_text(
        "SINGLE-CHAT PROMPT for {sender_name} ({conversation_type})\n", encoding="utf-8"
    )
    (folder / "default.magic_wand.md").write_text("WAND PROMPT\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("conversation", "user", "expected"),
    [
        ("cid-alice", "alice", "SINGLE-CHAT PROMPT for 用户 (single)"),
        ("cid-wand-alice", "alice", "WAND PROMPT"),
    ],
)
async def test_an_ai_action_gets_the_prompt_of_its_conversation_type(
    serve: Callable[..., Any], prompts: Path, conversation: str, user: str, expected: str
) -> None:
    """An action in a single chat gets the single-chat prompt (no nick in its context)."""
    async with serve(serve={"prompts_dir": str(prompts)}, assistants=[ASSISTANT]) as served:
        said = await served.control.inbound(user, conversation, "在吗", door="action")
        await answer_in(served.control, conversation, said.message.created_at)
    assert asked(served, "在吗").prompt[0].content == expected


async def test_a_robot_message_in_a_single_chat_names_the_sender(
    serve: Callable[..., Any], prompts: Path
) -> None:
    """A robot message carries senderNick: the single-chat prompt names Alice."""
    async with serve(serve={"prompts_dir": str(prompts)}, assistants=[ASSISTANT]) as served:
        said = await served.control.inbound("alice", "cid-alice", "在吗")
        await answer_in(served.control, "cid-alice", said.message.created_at)
    assert asked(served, "在吗").prompt[0].content == "SINGLE-CHAT PROMPT for Alice (single)"


@pytest.mark.parametrize(
    ("door", "target"),
    [
        # A robot message's conversationId of a single chat is no openConversationId.
        ("robot", {"unionId": "union-alice"}),
        # An action's context holds the chat's real openConversationId.
        ("action", {"openConversationId": "oc-cid-alice"}),
    ],
)
async def test_a_proactive_answer_in_a_single_chat_uses_a_target_the_platform_takes(
    serve: Callable[..., Any], door: str, target: dict[str, str]
) -> None:
    """ai_stepwise in a single chat prepares by unionId, or by the action's open id."""
    delivery = {"prefer": ["ai_stepwise"]}
    async with serve(delivery=delivery, assistants=[ASSISTANT]) as served:
        said = await served.control.inbound("alice", "cid-alice", "你好 [[len=400]]", door=door)
        answer = await answer_in(served.control, "cid-alice", said.message.created_at)
        calls = await served.control.calls(operations=[Operation.AI_PREPARE])
    assert answer.state == "finished"
    [prepare] = calls
    sent = {k: v for k, v in prepare.request.items() if k in ("unionId", "openConversationId")}
    assert (sent, prepare.status) == (target, 200)


async def test_a_group_answer_on_the_robot_webhook_mentions_the_sender(
    serve: Callable[..., Any],
) -> None:
    """robot_webhook in a group @-mentions the asker (at.atUserIds); a single chat does not."""
    async with serve(delivery={"prefer": ["robot_webhook"]}, assistants=[ASSISTANT]) as served:
        group = await served.control.inbound("bob", "cid-group", "你好")
        await answer_in(served.control, "cid-group", group.message.created_at)
        single = await served.control.inbound("alice", "cid-alice", "你好")
        await answer_in(served.control, "cid-alice", single.message.created_at)
        posts = await served.control.calls(operations=[Operation.ROBOT_WEBHOOK])
    assert [p.request.get("at") for p in posts] == [
        {"atUserIds": ["bob"], "isAtAll": False},
        None,
    ]


async def test_stream_mode_works_against_a_gateway_that_answers_xml_by_default(
    serve: Callable[..., Any], http: httpx2.AsyncClient
) -> None:
    """The ticket endpoint answers XML without Accept: application/json; bridge still
    connects and answers, so it asks for JSON."""
    async with serve(assistants=[ASSISTANT]) as served:
        plain = await http.post(
            f"{served.emulator.base_url}/v1.0/gateway/connections/open",
            json={
                "clientId": DEFAULT_APP,
                "clientSecret": DEFAULT_SECRET,
                "subscriptions": [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}],
            },
            headers={"Accept": "*/*"},
        )
        said = await served.control.inbound("alice", "cid-alice", "你好")
        answer = await answer_in(served.control, "cid-alice", said.message.created_at)
        opens = await served.control.calls(operations=[Operation.GATEWAY_OPEN])
    assert plain.headers["content-type"].startswith("text/xml")
    assert said.delivery is not None
    assert said.delivery.how == "stream"
    assert answer.state == "finished"
    assert [c.status for c in opens] == [200, 200]  # bridge's own, then the plain one
