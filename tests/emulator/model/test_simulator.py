"""Tests of bridge.emulator.model: the simulated model's wire and control API, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from bridge.emulator.model.script import ModelFault, ModelScript, ModelSpeed
from bridge.emulator.model.simulator import ModelSimulator
from bridge.emulator.server import RunningEmulator

FAST = ModelSpeed(ttft=0.0, tokens_per_second=20_000.0, chunk_chars=4)
COMPLETIONS = "/v1/chat/completions"


@pytest.fixture
def model(emulator: RunningEmulator) -> Iterator[ModelSimulator]:
    """The served emulator's model, reset and made fast (it survives world resets)."""
    simulator = emulator.emulator.model
    simulator.reset()
    simulator.set_speed(FAST)
    yield simulator
    simulator.reset()


def request(text: str, *, stream: bool = True, usage: bool = True) -> dict[str, Any]:
    """A chat completion request body with one user message."""
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
        if usage:
            body["stream_options"] = {"include_usage": True}
    return body


async def sse(http: httpx2.AsyncClient, body: dict[str, Any]) -> list[Any]:
    """The data of every server-sent event of a streamed completion ("[DONE]" kept as is)."""
    events: list[Any] = []
    async with http.stream("POST", COMPLETIONS, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


@pytest.mark.anyio
@pytest.mark.usefixtures("model")
async def test_models_lists_the_model(http: httpx2.AsyncClient) -> None:
    """GET /v1/models lists the simulated model."""
    response = await http.get("/v1/models")
    assert [m["id"] for m in response.json()["data"]] == ["emulator-model"]


@pytest.mark.anyio
async def test_stream_shape(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """Role first, content chunks, finish, usage without choices, then [DONE]."""
    model.queue(ModelScript(text="Hello, world"))
    events = await sse(http, request("hi"))
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert contents == ["Hell", "o, w", "orld", None]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 12, "total_tokens": 14}
    assert {c["id"] for c in chunks} == {model.emissions()[0].id}


@pytest.mark.anyio
async def test_stream_without_usage_option(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """Without include_usage, no usage chunk is sent."""
    model.queue(ModelScript(text="ok"))
    events = await sse(http, request("hi", usage=False))
    assert all(e == "[DONE]" or ("usage" not in e and e["choices"]) for e in events)


@pytest.mark.anyio
async def test_whole_answer(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """A non-streamed request gets one chat.completion with reasoning_content and usage."""
    model.queue(ModelScript(text="42", reasoning="count"))
    response = await http.post(COMPLETIONS, json=request("q", stream=False))
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "42",
        "reasoning_content": "count",
    }
    assert body["usage"]["completion_tokens"] == 7


@pytest.mark.anyio
async def test_scripts_are_used_in_order(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """Queued scripts (via the control API) answer in FIFO order, then the generator."""
    for text in ("first", "second"):
        response = await http.post("/_emulator/model/scripts", json={"text": text})
        assert response.status_code == 200
    for _ in range(3):
        await http.post(COMPLETIONS, json=request("echo me", stream=False))
    assert [e.text for e in model.emissions()] == ["first", "second", "You said: echo me."]


@pytest.mark.anyio
async def test_library_script_by_directive(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """[[script=name]] picks a library script; an unknown name is a 400 error body."""
    await http.put("/_emulator/model/library/greeting", json={"text": "Hi there"})
    ok = await http.post(COMPLETIONS, json=request("[[script=greeting]]", stream=False))
    assert ok.json()["choices"][0]["message"]["content"] == "Hi there"
    missing = await http.post(COMPLETIONS, json=request("[[script=nope]]", stream=False))
    assert missing.status_code == 400
    assert "nope" in missing.json()["error"]["message"]


@pytest.mark.anyio
async def test_length_directive(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """[[len=N]] streams exactly N characters of content."""
    events = await sse(http, request("go [[len=123]]"))
    text = "".join(
        e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"]
    )
    assert len(text) == 123
    assert model.emissions()[0].text == text


@pytest.mark.anyio
async def test_status_fault_by_count(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """A status fault answers its count of requests with an OpenAI error, then clears."""
    response = await http.post(
        "/_emulator/model/faults",
        json={"kind": "status", "status": 429, "count": 2, "retry_after": 0.25},
    )
    assert response.status_code == 200
    statuses = []
    for _ in range(3):
        answer = await http.post(COMPLETIONS, json=request("q", stream=False))
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert answer.headers["retry-after-ms"] == "250"
            assert answer.json()["error"]["type"] == "rate_limit_exceeded"
    assert statuses == [429, 429, 200]
    assert [e.outcome for e in model.emissions()] == ["failed", "failed", "complete"]
    assert (await http.get("/_emulator/model")).json()["faults"] == []


@pytest.mark.anyio
async def test_drop_aborts_the_connection(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """A drop fault cuts the response after N chunks: the client sees a protocol error."""
    model.add_fault(ModelFault(kind="drop", after_chunks=2))
    model.queue(ModelScript(text="abcdefghijklmnop"))
    with pytest.raises(httpx2.RemoteProtocolError):
        await sse(http, request("q"))
    emission = await model.wait_finished(0)
    assert emission.outcome == "dropped"
    assert [c.text for c in emission.chunks] == ["abcd", "efgh"]


@pytest.mark.anyio
async def test_stall_until_released(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """A stall stops the stream until released; then it completes."""
    model.add_fault(ModelFault(kind="stall", after_chunks=1, seconds=30))
    model.queue(ModelScript(text="abcdefgh"))
    async with http.stream("POST", COMPLETIONS, json=request("q")) as response:
        lines = response.aiter_lines()
        first = await anext(line async for line in lines if line.startswith("data: "))
        assert json.loads(first.removeprefix("data: "))["choices"][0]["delta"]["content"] == "abcd"
        # The first chunk is out, so the stream now sits in its stall.
        assert (await http.post("/_emulator/model/release")).status_code == 200
        rest = [line async for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"
    assert (await model.wait_finished(0)).outcome == "complete"


@pytest.mark.anyio
async def test_speed_update_and_bad_body(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """PUT speed replaces the fields given; an invalid body is a 422 with details."""
    response = await http.put("/_emulator/model/speed", json={"chunk_chars": 7})
    assert response.json() == {"ttft": 0.0, "tokens_per_second": 20_000.0, "chunk_chars": 7}
    bad = await http.put("/_emulator/model/speed", json={"chunk_chars": 0})
    assert bad.status_code == 422
    assert bad.json()["details"]
    unknown = await http.post("/_emulator/model/faults", json={"kind": "explode"})
    assert unknown.status_code == 422


@pytest.mark.anyio
async def test_generator_setting(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """PUT generator changes the default replies (length and think-style reasoning)."""
    await http.put(
        "/_emulator/model/generator",
        json={"length": 50, "reasoning_chars": 10, "reasoning_style": "think"},
    )
    await http.post(COMPLETIONS, json=request("q", stream=False))
    emission = model.emissions()[0]
    assert emission.text.startswith("<think>\n")
    assert len(emission.text) == len("<think>\n\n</think>\n\n") + 10 + 50


@pytest.mark.anyio
async def test_emissions_via_control_api(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """Emissions are readable (with since) and clearable; chunk times never go back."""
    model.queue(ModelScript(text="one two three"), ModelScript(text="four"))
    await sse(http, request("first [[len=5]]"))
    await sse(http, request("second"))
    emissions = (await http.get("/_emulator/model/emissions")).json()["emissions"]
    assert [e["user"] for e in emissions] == ["first [[len=5]]", "second"]
    times = [c["at"] for c in emissions[0]["chunks"]]
    assert times == sorted(times)
    assert len(times) == 4
    later = (await http.get("/_emulator/model/emissions", params={"since": 1})).json()
    assert [e["user"] for e in later["emissions"]] == ["second"]
    await http.delete("/_emulator/model/emissions")
    assert model.emissions() == []


@pytest.mark.anyio
async def test_reset(http: httpx2.AsyncClient, model: ModelSimulator) -> None:
    """POST reset empties the queue, library and faults."""
    model.queue(ModelScript(text="x"))
    model.define("x", ModelScript(text="x"))
    model.add_fault(ModelFault(kind="drop"))
    state = (await http.post("/_emulator/model/reset")).json()
    assert (state["queued"], state["library"], state["faults"]) == ([], {}, [])


@pytest.mark.anyio
@pytest.mark.usefixtures("model")
async def test_malformed_request(http: httpx2.AsyncClient) -> None:
    """A body without messages is a 400 OpenAI-style error."""
    response = await http.post(COMPLETIONS, json={"model": "m"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
