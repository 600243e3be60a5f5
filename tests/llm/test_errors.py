"""Model failures in words an operator can act on, naming the endpoint (bridge.llm.source).

Each failure is provoked for real against the simulated model (or a port nothing listens
on) through the real openai client; the message must name the endpoint's URL and say
what broke, and never claim a connection was lost when none was made.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx2
import pytest

from bridge.config import LLMConfig
from bridge.emulator.model.script import ModelFault, ModelScript
from bridge.errors import LLMError, LLMPromptTooLong, LLMRateLimited, LLMTimeout
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client
from tests.llm.conftest import ServedModel

pytestmark = pytest.mark.anyio


async def failure(http: httpx2.AsyncClient, base_url: str, **settings: object) -> LLMError:
    """The LLMError one answer from ``base_url`` ends with."""
    config = LLMConfig.model_validate(
        {"base_url": base_url, "model": "gpt-4o", "max_retries": 0, **settings}
    )
    source = LLMSource(create_openai_client(config, {}, http), config)

    async def answer() -> None:
        async with source.stream([ChatMessage.user("hi")]) as events:
            async for _ in events:
                pass

    with pytest.raises(LLMError) as caught:
        await answer()
    return caught.value


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections (bound, never listening)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


async def test_refused_connection_says_so_and_names_the_url(
    http: httpx2.AsyncClient, closed_port: int
) -> None:
    """No listener: 'cannot connect to model endpoint URL: connection refused', not 'lost'."""
    url = f"http://127.0.0.1:{closed_port}/v1"
    error = await failure(http, url)
    assert str(error) == f"cannot connect to model endpoint {url}: connection refused"
    assert "lost" not in str(error)


async def test_drop_mid_answer_says_closed_mid_answer(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """A connection dropped after some chunks: 'closed the connection mid-answer'."""
    model.simulator.queue(ModelScript(text="abcdefgh" * 4))
    model.simulator.add_fault(ModelFault(kind="drop", after_chunks=2))
    error = await failure(http, model.base_url)
    assert str(error) == f"model endpoint {model.base_url} closed the connection mid-answer"


async def test_an_error_event_mid_answer_gives_the_servers_message(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """OpenAI's error event inside the stream (``data: {"error": ...}``) ends the answer
    with the server's message."""
    model.simulator.queue(ModelScript(text="abcdefgh" * 4))
    model.simulator.add_fault(ModelFault(kind="error", after_chunks=2, message="overloaded"))
    error = await failure(http, model.base_url)
    assert type(error) is LLMError
    assert str(error) == f"model endpoint {model.base_url} reported an error mid-answer: overloaded"
    assert (await model.simulator.wait_finished(0)).outcome == "failed"


async def test_an_error_event_over_the_context_is_a_prompt_too_long(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """A context-length error sent as an event is taken as such (the prompt is trimmed)."""
    message = "This model's maximum context length is 8192 tokens"
    model.simulator.add_fault(ModelFault(kind="error", after_chunks=0, message=message))
    assert isinstance(await failure(http, model.base_url), LLMPromptTooLong)


@pytest.mark.parametrize(("status", "kind"), [(503, LLMError), (429, LLMRateLimited)])
async def test_error_status_gives_status_and_the_servers_message(
    model: ServedModel, http: httpx2.AsyncClient, status: int, kind: type[LLMError]
) -> None:
    """An error answer names the endpoint, the server's own message and the HTTP status."""
    model.simulator.add_fault(ModelFault(kind="status", status=status, count=1))
    error = await failure(http, model.base_url)
    assert type(error) is kind
    assert error.status == status
    assert str(error).startswith(f"model endpoint {model.base_url} ")
    assert str(error).endswith(f": simulated failure (HTTP {status})")


async def test_stall_names_the_endpoint_and_the_idle_timeout(
    model: ServedModel, http: httpx2.AsyncClient
) -> None:
    """A stall past the idle timeout: LLMTimeout naming the endpoint and the timeout."""
    model.simulator.queue(ModelScript(text="abcdefgh" * 4))
    model.simulator.add_fault(ModelFault(kind="stall", after_chunks=1, seconds=30))
    error = await failure(http, model.base_url, idle_timeout=0.2)
    assert isinstance(error, LLMTimeout)
    assert str(error) == (
        f"model endpoint {model.base_url} sent nothing within the idle timeout (0.2 s) "
        "while waiting for the next chunk"
    )


async def test_credentials_in_the_base_url_never_appear(
    http: httpx2.AsyncClient, closed_port: int
) -> None:
    """A key in the base URL's user info or query is not part of the message."""
    error = await failure(http, f"http://user:sk-secret@127.0.0.1:{closed_port}/v1?key=sk-q")
    assert "sk-" not in str(error)
    assert f"127.0.0.1:{closed_port}/v1" in str(error)
