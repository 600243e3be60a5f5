"""Fuzz: malformed bodies and frames through every door of a running `bridge serve`.

Hypothesis mutates a valid robot message, AI action and push body: fields replaced by
lone surrogates, control characters, wrong types, huge or absurd numbers, JSON nested
thousands deep, oversized strings, reply URLs with tabs or userinfo. Each is sent through
the signed robot callback, the bearer-token action door, the push API, and the Stream
gateway (bot and action topics, as raw frames injected by the emulator). Every one must
be answered with a refusal or an acceptance, never a 500 or an ACK 500 (the containment
boundary is a last resort, not a way of answering), and /healthz must answer after each.
When the examples are done, the fixture checks that a normal message still gets its
answer from the same bridge.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.dingtalk.signature import sign
from bridge.emulator.server import RunningEmulator
from tests.serve.conftest import (
    ACTION_TOKEN,
    PUSH_TOKEN,
    Served,
    answer_in,
    bridge_settings,
    serving,
)

SECRET = "dev-secret"  # bridge_settings' client_secret of the assistant "dev"
CLIENT_ID = "dingbridge-dev"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REFUSED_OR_TAKEN = {200, 400, 401, 404, 408, 413, 422, 429, 502, 503}

# ---------------------------------------------------------------- what an attacker sends

ANY_CHARS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF)  # surrogates included
NASTY_STRINGS = st.one_of(
    st.text(ANY_CHARS, max_size=30),
    st.sampled_from(
        [
            "\ud800",
            "a\udfffb",
            "\x00\x1b[31m",
            "\t\n\r\x7f\x85",
            "https://oapi.dingtalk.com/robot/send\tx",
            "https://oapi.dingtalk.com/robot/send\nHost: evil",
            "https://u:p@oapi.dingtalk.com/robot",
            "http://127.0.0.1:6379/",
            "https://evil.example/collect",
            "user:a b",
            "group:\ud83d",
        ]
    ),
    st.integers(min_value=1, max_value=4).map(lambda n: "长" * (n * 12_000)),
)
NASTY_JSON = st.one_of(  # JSON text of one value
    NASTY_STRINGS.map(json.dumps),  # ASCII: a lone surrogate travels as an escape
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(
        ["1e308", "-1e308", "1e999", "NaN", "-Infinity", "true", "false", "null", "[]", "{}"]
    ),
    st.sampled_from(["9" * 5000, "0.1e-999999", '"' + "\\ud800" * 50 + '"']),
    st.integers(min_value=40, max_value=3000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=40, max_value=1500).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.lists(st.integers(), max_size=3).map(json.dumps),
)
WHOLE_BODIES = st.sampled_from(
    ["", "not json", "[1, 2]", '"text"', "42", "{", '{"a":' + "[" * 20_000, "\ufeff{}"]
)


Mutation = str | list[tuple[str, str]]
"""A whole raw body, or (dotted field path, raw JSON value) replacements."""


def mutations(paths: list[str], texts: list[str]) -> st.SearchStrategy[Mutation]:
    """Nasty values in one to three of ``paths``, nasty strings in the free-text fields
    ``texts`` (a message that must be taken, cleaned, and answered), or a nasty body."""
    pairs = st.tuples(st.sampled_from(paths), NASTY_JSON)
    strings = st.tuples(st.sampled_from(texts), NASTY_STRINGS.map(json.dumps))
    return st.one_of(
        st.lists(pairs, min_size=1, max_size=3),
        st.lists(strings, min_size=1, max_size=2),
        WHOLE_BODIES,
    )


def mutated(base: dict[str, Any], mutation: Mutation) -> str:
    """JSON text of ``base`` with the mutation applied (drawn before the test runs:
    hypothesis must not draw inside the event loop, its control flow is a BaseException)."""
    if isinstance(mutation, str):
        return mutation
    data = copy.deepcopy(base)
    raws: dict[str, str] = {}
    for i, (path, raw) in enumerate(mutation):
        marker = f"@@RAW{i}@@"
        raws[f'"{marker}"'] = raw
        *parents, last = path.split(".")
        node = data
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[last] = marker
    text = json.dumps(data)
    for marker, raw in raws.items():
        text = text.replace(marker, raw)
    return text


BOT_PATHS = [
    "conversationId",
    "conversationType",
    "conversationTitle",
    "msgId",
    "msgtype",
    "text",
    "text.content",
    "content",
    "content.richText",
    "content.recognition",
    "senderStaffId",
    "senderUnionId",
    "senderNick",
    "robotCode",
    "atUsers",
    "sessionWebhook",
    "sessionWebhookExpiredTime",
    "chatbotUserId",
    "isInAtList",
]
ACTION_PATHS = [
    "rawInput",
    "userId",
    "unionId",
    "corpId",
    "openConversationId",
    "conversationToken",
    "sessionWebhook",
    "msgId",
]
PUSH_PATHS = ["to", "prompt", "assistant"]
BOT_TEXTS = ["text.content", "senderNick", "conversationTitle"]

# ---------------------------------------------------------------- the bridge under attack


@pytest.fixture
async def hostile(
    emulator: RunningEmulator, http: httpx2.AsyncClient, tmp_path: Path
) -> AsyncIterator[tuple[Served, dict[str, Any]]]:
    """A bridge serving both doors; afterwards, a normal message must still be answered."""
    settings_ = bridge_settings(emulator.base_url, tmp_path / "state.sqlite3")
    async with serving(emulator, http, settings_) as served:
        said = await served.control.inbound("alice", "cid-alice", "你好", deliver="none")
        wand = await served.control.inbound("alice", "cid-wand-alice", "你好", deliver="none")
        samples = {"bot": said.chatbot_message, "action": wand.action}
        yield served, samples
        assert await healthy(served)
        stream = served.bridge.streams["dev"]
        assert stream.stats.failed == 0, "a frame escaped to the containment boundary"
        assert stream.stats.connections == 1, "a frame cost the Stream connection"
        after = await served.control.inbound("alice", "cid-alice", "还在吗？")
        answer = await answer_in(served.control, "cid-alice", after.message.created_at)
        assert answer.state == "finished"


async def healthy(served: Served) -> bool:
    response = await served.http.get(f"{served.bridge.http_url}/healthz")
    return response.status_code == 200 and response.json()["status"] == "ok"


_ids = itertools.count()


async def post(served: Served, path: str, body: str, headers: dict[str, str]) -> None:
    """POST ``body``; the answer must be a refusal or an acceptance, never a 500."""
    response = await served.http.post(
        f"{served.bridge.http_url}{path}",
        content=body.encode("utf-8", "surrogatepass"),
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code in REFUSED_OR_TAKEN, (response.status_code, response.text)
    if response.status_code != 200:
        assert isinstance(response.json()["error"], str)
    assert await healthy(served)


async def frame(served: Served, topic: str, data: str) -> None:
    """Inject a frame carrying ``data``; its ACK must come, and never with code 500."""
    message_id = f"fuzz-{next(_ids)}"
    headers = {"messageId": message_id, "topic": topic, "contentType": "application/json"}
    text = json.dumps({"specVersion": "1.0", "type": "CALLBACK", "headers": headers, "data": data})
    await served.control.inject(text, client_id=CLIENT_ID)
    [ack] = await served.control.acks(message_id=message_id, count=1)
    assert ack.code is not None, ack
    assert ack.code != 500, ack
    assert await healthy(served)


def signed() -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {"timestamp": stamp, "sign": sign(stamp, SECRET)}


def graph(params_text: str) -> str:
    """The action topic's data: a graph request whose body is the parameters' JSON text."""
    request = {"requestLine": {"method": "POST", "uri": "/v1/actions/answer"}, "headers": {}}
    return json.dumps({**request, "body": params_text})


# ---------------------------------------------------------------- the doors


@pytest.mark.anyio
@FUZZ
@given(mutation=mutations(BOT_PATHS, BOT_TEXTS))
async def test_fuzzed_robot_callbacks(
    hostile: tuple[Served, dict[str, Any]], mutation: Mutation
) -> None:
    """Signed robot callbacks with mutated bodies are refused or taken, never a 500."""
    served, samples = hostile
    body = mutated({**samples["bot"], "msgId": f"fuzz-msg-{next(_ids)}"}, mutation)
    await post(served, "/dingtalk/dev/robot", body, signed())


@pytest.mark.anyio
@FUZZ
@given(mutation=mutations(ACTION_PATHS, ["rawInput"]))
async def test_fuzzed_actions(hostile: tuple[Served, dict[str, Any]], mutation: Mutation) -> None:
    """HTTP actions (bearer token) with mutated parameters are refused or taken."""
    served, samples = hostile
    body = mutated({**samples["action"], "msgId": f"fuzz-act-{next(_ids)}"}, mutation)
    await post(served, "/dingtalk/dev/action", body, {"Authorization": f"Bearer {ACTION_TOKEN}"})


@pytest.mark.anyio
@FUZZ
@given(mutation=mutations(PUSH_PATHS, ["prompt"]))
async def test_fuzzed_pushes(hostile: tuple[Served, dict[str, Any]], mutation: Mutation) -> None:
    """Push bodies with mutated fields are refused, or run and report how it went."""
    served, _ = hostile
    body = mutated({"to": "group:cid-group", "prompt": "日报", "assistant": "dev"}, mutation)
    await post(served, "/v1/push", body, {"Authorization": f"Bearer {PUSH_TOKEN}"})


@pytest.mark.anyio
@FUZZ
@given(bot=mutations(BOT_PATHS, BOT_TEXTS), action=mutations(ACTION_PATHS, ["rawInput"]))
async def test_fuzzed_stream_frames(
    hostile: tuple[Served, dict[str, Any]], bot: Mutation, action: Mutation
) -> None:
    """Bot and action frames with mutated data are ACKed (never 500) on the same connection."""
    served, samples = hostile
    message = mutated({**samples["bot"], "msgId": f"fuzz-msg-{next(_ids)}"}, bot)
    await frame(served, "/v1.0/im/bot/messages/get", message)
    params = mutated({**samples["action"], "msgId": f"fuzz-act-{next(_ids)}"}, action)
    await frame(served, "/v1.0/graph/api/invoke", graph(params))


@pytest.mark.anyio
async def test_an_oversized_frame_through_the_gateway_is_refused_not_fatal(
    hostile: tuple[Served, dict[str, Any]],
) -> None:
    """A 2 MiB frame (DingTalk's SDKs would drop the socket) is ACKed with an error code."""
    served, samples = hostile
    big = {**samples["bot"], "msgId": "fuzz-big", "text": {"content": "长" * 700_000}}
    await frame_expecting(served, json.dumps(big, ensure_ascii=False), code=400)
    assert served.bridge.streams["dev"].stats.oversized == 1


async def frame_expecting(served: Served, data: str, *, code: int) -> None:
    headers = {"messageId": "fuzz-big-1", "topic": "/v1.0/im/bot/messages/get"}
    text = json.dumps({"specVersion": "1.0", "type": "CALLBACK", "headers": headers, "data": data})
    await served.control.inject(text, client_id=CLIENT_ID)
    [ack] = await served.control.acks(message_id="fuzz-big-1", count=1)
    assert ack.code == code
