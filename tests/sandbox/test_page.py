"""The sandbox chat page in a real chromium: what a user sees while the bridge answers.

Every test drives the page the way a person would (click a conversation, type, press
send, press a fault button) and waits for DOM states, never for time. Screenshots are
kept in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.model.script import ModelScript, ModelSpeed
from bridge.sandbox.runner import Sandbox
from bridge.sandbox.wiring import MARKDOWN_DEMO
from tests.sandbox.conftest import screenshot

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


def define(sandbox: Sandbox, name: str, text: str) -> str:
    """Put a scripted answer in the simulated model's library; returns the directive."""
    sandbox.emulator.emulator.model.define(name, ModelScript(text=text))
    return f"[[script={name}]]"


async def send(page: Any, conversation_id: str, text: str, *, path: str | None = None) -> str:
    """Open the conversation, type ``text``, press send; returns the user message's id."""
    await page.click(f'#conversations li[data-conversation="{conversation_id}"]')
    await page.wait_for_selector(f'#chat[data-conversation="{conversation_id}"]')
    if path is not None:
        await page.select_option("#path", path)
    await page.fill("#input", text)
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/inbound")) as sent:
        await page.click("#send")
    answer = await (await sent.value).json()
    message_id: str = answer["message"]["id"]
    await page.wait_for_selector(f'[data-message-id="{message_id}"]')
    return message_id


def reply_selector(user_message_id: str, state: str | None = None) -> str:
    """The first bot bubble after the user's message, optionally in ``state``."""
    wanted = f'[data-state="{state}"]' if state else ""
    return f'[data-message-id="{user_message_id}"] ~ .msg[data-sender="bot"]{wanted}'


async def finished_text(page: Any, user_message_id: str) -> str:
    """Wait until the reply is finished; its visible text."""
    bubble = await page.wait_for_selector(reply_selector(user_message_id, "finished"))
    text: str = await (await bubble.query_selector(".md")).inner_text()
    return text


def squeeze(text: str) -> str:
    """Text without whitespace: rendered Markdown and its source agree on the rest."""
    return re.sub(r"\s+", "", text)


async def test_single_chat_shows_the_finished_answer(page: Any, sandbox: Sandbox) -> None:
    """In the single chat the answer bubble ends finished with the model's exact text."""
    answer = "你好 Alice！这是单聊里的回答，中文和 English 混排。"
    directive = define(sandbox, "single", answer)
    user = await send(page, "cid-alice", f"{directive} 你好")
    assert await finished_text(page, user) == answer
    chip = await page.inner_text(f"{reply_selector(user)} .state-chip")
    assert chip == "已完成"
    await screenshot(page, "single")


async def test_group_answers_only_when_mentioned(page: Any, sandbox: Sandbox) -> None:
    """In the group a message without @mention gets no answer; a mention gets the text."""
    answer = "群里的回答：收到，@Bob。"
    directive = define(sandbox, "group", answer)
    await page.click('#conversations li[data-conversation="cid-group"]')
    await page.select_option("#speaker", "bob")
    quiet = await send(page, "cid-group", "大家好，今天开会吗？")
    await page.click("#mention")
    mention = await page.input_value("#input")
    assert mention.startswith("@Bridge Dev")
    await page.fill("#input", f"{mention}{directive} 帮我总结一下")
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/inbound")) as sent:
        await page.click("#send")
    asked = (await (await sent.value).json())["message"]["id"]
    assert await finished_text(page, asked) == answer
    # Replies of one chat come in order: had the first message been answered, its answer
    # would sit between the two user messages.
    between = await page.query_selector_all(
        f'[data-message-id="{quiet}"] + .msg[data-sender="bot"]'
    )
    assert between == []
    assert await page.get_attribute(f'[data-message-id="{asked}"]', "class") is not None
    assert "mine" in (await page.get_attribute(f'[data-message-id="{asked}"]', "class") or "")
    await screenshot(page, "group")


async def test_magic_wand_shows_the_finished_answer(page: Any, sandbox: Sandbox) -> None:
    """The magic wand (reply mode only) shows the finished answer with the exact text."""
    answer = "魔法棒：这是在 AI 助理侧边栏里的回答。"
    directive = define(sandbox, "wand", answer)
    user = await send(page, "cid-wand-alice", f"{directive} 帮帮我")
    assert await finished_text(page, user) == answer
    assert await page.get_attribute("#chat", "data-type") == "magic_wand"
    await screenshot(page, "magic-wand")


async def test_long_answer_grows_through_intermediate_states(
    page: Any, sandbox: Sandbox, control: EmulatorControl
) -> None:
    """A long answer is seen preparing/inputting, growing at least twice, then finished."""
    model = sandbox.emulator.emulator.model
    try:
        async with page.expect_response(lambda r: r.url.endswith("/_emulator/model/speed")):
            await page.fill("#speed", "150")
        assert model.speed.tokens_per_second == 150
        user = await send(page, "cid-alice", "[[len=1500]] tell me a long story")
        inputting = reply_selector(user, "inputting")
        first = await (await page.wait_for_selector(f"{inputting} .md")).inner_text()
        handle = await page.wait_for_function(
            """([selector, seen]) => {
                const element = document.querySelector(selector);
                return element && element.innerText.length > seen ? element.innerText : null;
            }""",
            arg=[f"{inputting} .md", len(first)],
        )
        second = await handle.json_value()
        await screenshot(page, "streaming")
        final = await finished_text(page, user)
    finally:
        model.set_speed(ModelSpeed())
    assert 0 < len(first) < len(second) < len(final)
    assert squeeze(final).startswith(squeeze(first)[:40])
    frames = int(await page.get_attribute(reply_selector(user), "data-frames") or "0")
    assert frames >= 3
    message_id = await page.get_attribute(reply_selector(user), "data-message-id")
    assert message_id is not None
    stored = await control.message(message_id)
    assert len(stored.text) == 1500
    assert squeeze(final) == squeeze(stored.text)


async def test_model_drop_shows_the_failed_state_with_partial_text(
    page: Any, control: EmulatorControl
) -> None:
    """After "model drop" an AI card answer ends failed, keeping the partial text."""
    await page.click('#conversations li[data-conversation="cid-alice"]')
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/model/faults")):
        await page.click('[data-fault="model-drop"]')
    await page.wait_for_selector("#faults li.model")
    user = await send(page, "cid-alice", "[[len=1200]] explain everything", path="card")
    bubble = await page.wait_for_selector(reply_selector(user, "failed"))
    shown = await (await bubble.query_selector(".md")).inner_text()
    assert await (await bubble.query_selector(".state-chip")).inner_text() == "回答失败"
    message_id = await bubble.get_attribute("data-message-id")
    assert message_id is not None
    stored = await control.message(message_id)
    assert stored.state == "failed"
    assert stored.via.startswith("card")
    assert 0 < len(shown) < 1200
    assert squeeze(shown) == squeeze(stored.text)
    await screenshot(page, "model-drop")


async def test_markdown_is_rendered_and_html_escaped(page: Any) -> None:
    """The markdown chip's answer shows a heading, lists, a table, code and a quote."""
    await page.click('#conversations li[data-conversation="cid-alice"]')
    await page.click('[data-insert^="[[script=markdown]]"]')
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/inbound")) as sent:
        await page.click("#send")
    user = (await (await sent.value).json())["message"]["id"]
    await page.wait_for_selector(reply_selector(user, "finished"))
    md = f"{reply_selector(user)} .md"
    assert await page.inner_text(f"{md} h2") == "部署清单 · Deployment checklist"
    assert len(await page.query_selector_all(f"{md} table tbody tr")) == 2
    assert len(await page.query_selector_all(f"{md} ol > li")) >= 2
    assert len(await page.query_selector_all(f"{md} ul > li")) == 2
    assert "await bridge.serve()" in await page.inner_text(f"{md} pre code")
    assert "一定会被关闭" in await page.inner_text(f"{md} blockquote")
    assert squeeze(await page.inner_text(md)) != squeeze(MARKDOWN_DEMO)  # rendered, not raw
    await screenshot(page, "markdown")
    rendered = await page.evaluate(
        "renderMarkdown('<img src=x onerror=alert(1)> [x](javascript:alert(1)) `<b>`')"
    )
    assert "<img" not in rendered
    assert "javascript:" not in rendered.split("[x]")[0]
    assert 'href="javascript' not in rendered
    assert "<code>&lt;b&gt;</code>" in rendered


async def test_side_panel_counts_the_calls_of_a_reply_and_shows_faults(
    page: Any, sandbox: Sandbox, control: EmulatorControl
) -> None:
    """Two injected 500s are listed, the bridge retries, and the reply's call count matches."""
    answer = "重试之后依然送达。"
    directive = define(sandbox, "retry", answer)
    before = sandbox.emulator.emulator.calls.last_seq
    await page.click('#conversations li[data-conversation="cid-alice"]')
    await page.select_option("#fault-op", Operation.AI_REPLY.value)
    async with page.expect_response(lambda r: r.url.endswith("/_emulator/faults")):
        await page.click('[data-fault="http-500"]')
    user = await send(page, "cid-alice", f"{directive} 再试一次")
    assert await finished_text(page, user) == answer
    calls = [c for c in await control.calls(before) if c.operation != Operation.GATEWAY_OPEN]
    statuses = [c.status for c in calls if c.operation == Operation.AI_REPLY]
    assert statuses[:2] == [500, 500]
    assert statuses[-1] == 200
    await page.wait_for_function(
        "(n) => document.querySelectorAll('#calls .call[data-status=\"500\"]').length >= n", arg=2
    )
    expected = f"{len(calls)} calls (2 failed)"
    await page.wait_for_function(
        "(text) => document.querySelector('[data-figure=calls]')?.innerText === text",
        arg=expected,
    )
    first = await page.inner_text("[data-figure=first]")
    total = await page.inner_text("[data-figure=total]")
    assert re.fullmatch(r"\d+\.\d\d s", first)
    assert re.fullmatch(r"\d+\.\d\d s", total)
    await screenshot(page, "faults")
