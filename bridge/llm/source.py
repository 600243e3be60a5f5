"""The LLM source: one streamed chat completion as typed events, over the openai client.

``create_openai_client`` builds the ``openai.AsyncOpenAI`` the composition root owns (on
an ``httpx2.AsyncClient`` it also owns); ``LLMSource.stream(messages)`` is an async
context manager yielding an async iterator of ``LLMEvent``s:

    async with source.stream(messages) as events:
        async for event in events:
            ...  # TextDelta, ReasoningDelta, then Usage and End

Contract:

- the HTTP response is closed when the ``async with`` exits, on every path, cancellation
  included (the close is shielded and bounded);
- failures are raised from the iterator as ``LLMError`` (``LLMTimeout`` for the idle gap
  or the deadline, ``LLMRateLimited`` for a 429, ``LLMPromptTooLong`` for a prompt the
  endpoint refuses as longer than its context: see ``prompt_too_long``); no openai or
  httpx2 exception escapes (``bridge.llm.failures`` translates them).
  Each message names the endpoint (``endpoint_url``: no credentials) and what broke in
  plain words: cannot connect (connection refused…), timed out, closed the connection
  before answering or mid-answer, or the HTTP status with the server's own message;
- retries are openai's own (``max_retries`` from config) and happen only while the
  request has not produced a response yet, i.e. before the first token. Once chunks
  flow, a failure ends the stream: it is never replayed, because the user has already
  seen the start of the answer;
- timing: each wait for the next chunk (the first included) is bounded by
  ``idle_timeout``, and the whole answer by ``deadline``, around our own awaits only,
  so the consumer's code between events is never cancelled by them. The idle bound is
  httpx2's read timeout (per read, ``read_timeouts``), with an anyio scope only once the
  deadline is nearer than it: a scope and a timer per chunk cost more than the chunk;
- reasoning comes from ``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM,
  OpenRouter) in the chunk's delta, and from ``<think>…</think>`` in the content;
- openai makes the request (typed parameters, retries, HTTP errors) and hands over the
  response unread; its server-sent events are decoded here (``bridge.llm.sse``), a
  socket read at a time, and each chunk is read as the JSON it is (``bridge.llm.chunks``)
  instead of a ``ChatCompletionChunk`` model: at a thousand streams of 20 chunks a second
  openai's decoding and models were half of the process's CPU (``bridge bench``). An
  error sent inside the stream (``{"error": …}``) is raised as openai's ``APIError`` and
  translated as before; an event that is not JSON, or a chunk of the wrong shape,
  fails the answer with an ``LLMError`` naming the field;
- ``paced_reads``: a caller may have the stream pause between reads (the relay does for
  a reply that budget pressure holds for one send), so that many chunks are taken per
  read; the pause is taken only after a read that waited for the network
  (``bridge.llm.reads``) and never counts against the idle timeout;
- ``Usage`` precedes ``End``: the endpoint's figures when it reports them, otherwise
  counted locally when the source was given an encoding;
- the source's ``observer`` hears of every request, its first token, its usage and its
  failure (``bridge.observe.hooks.ModelObserver``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import httpx2
import openai
import tiktoken
from openai.types.chat import ChatCompletionMessageParam

from bridge.config import LLMConfig
from bridge.core.events import End, LLMEvent, ReasoningDelta, TextDelta, Usage
from bridge.errors import LLMError, LLMPromptTooLong, LLMTimeout
from bridge.llm.chunks import read_chunk, read_event
from bridge.llm.endpoint import endpoint_url
from bridge.llm.failures import prompt_too_long, translate_error
from bridge.llm.messages import ChatMessage
from bridge.llm.reads import WaitProbe, current_pause, finish_response
from bridge.llm.sse import SSEDecoder
from bridge.llm.think import ThinkSplitter
from bridge.llm.tokens import count_messages, count_text
from bridge.observe.hooks import UNOBSERVED, ModelObserver

__all__ = [
    "LLMSource",
    "create_openai_client",
    "prompt_too_long",
    "translate_error",
]

log = logging.getLogger(__name__)

PLACEHOLDER_API_KEY = "not-needed"
"""Sent when no key is configured: local endpoints (vLLM, Ollama) accept anything."""

CLOSE_TIMEOUT = 5.0
# Models that refuse ``max_tokens`` and want ``max_completion_tokens`` instead. Other
# OpenAI-compatible servers mostly know only ``max_tokens``.
_COMPLETION_TOKENS_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def create_openai_client(
    config: LLMConfig, env: Mapping[str, str], http_client: httpx2.AsyncClient
) -> openai.AsyncOpenAI:
    """The openai client for ``config``; the caller owns (and closes) ``http_client``.

    The key is ``config.api_key``, else ``env["OPENAI_API_KEY"]``, else a placeholder.
    """
    if config.api_key is not None:
        api_key = config.api_key.get_secret_value()
    else:
        api_key = env.get("OPENAI_API_KEY") or PLACEHOLDER_API_KEY
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=config.base_url,
        max_retries=config.max_retries,
        timeout=_read_timeouts(config),
        http_client=http_client,
    )


def _read_timeouts(config: LLMConfig) -> httpx2.Timeout:
    """httpx2's timeouts for the model: the read timeout is per read, i.e. exactly an
    idle gap, so a stalled attempt fails (and may be retried by openai) on its own, and
    a stalled answer raises ``ReadTimeout`` while it is read (``LLMSource``)."""
    return httpx2.Timeout(config.idle_timeout, connect=min(config.idle_timeout, 10.0))


class LLMSource:
    """Streams chat completions from one OpenAI-compatible endpoint."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        config: LLMConfig,
        *,
        encoding: tiktoken.Encoding | None = None,
        observer: ModelObserver = UNOBSERVED,
    ) -> None:
        self._client = client
        self._config = config
        self._encoding = encoding
        self._observer = observer

    def stream(
        self, messages: Sequence[ChatMessage]
    ) -> AbstractAsyncContextManager[AsyncIterator[LLMEvent]]:
        """The events of one answer to ``messages`` (see the module docstring)."""
        return self._stream(tuple(messages))

    @asynccontextmanager
    async def _stream(
        self, messages: tuple[ChatMessage, ...]
    ) -> AsyncIterator[AsyncIterator[LLMEvent]]:
        run = _Run(self._client, self._config, self._encoding, messages, self._observer)
        events = run.events()
        try:
            yield events
        finally:
            # The generator's own finally closes the response; aclose() drives it there
            # even when the consumer stopped early or was cancelled.
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await events.aclose()


class _Run:
    """One request: its deadline, its response, and the state of its decoding."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        config: LLMConfig,
        encoding: tiktoken.Encoding | None,
        messages: tuple[ChatMessage, ...],
        observer: ModelObserver,
    ) -> None:
        self._client = client
        self._config = config
        self._encoding = encoding
        self._messages = messages
        self._observer = observer
        self._started = self._deadline = 0.0
        self._produced: list[str] = []
        self._endpoint = endpoint_url(config.base_url)

    async def events(self) -> AsyncGenerator[LLMEvent, None]:
        self._started = anyio.current_time()
        self._deadline = self._started + self._config.deadline
        self._observer.requested()
        response: httpx2.Response | None = None
        reads: AsyncIterator[bytes] | None = None
        done = False  # [DONE] came: the answer is complete
        try:
            # Only the deadline bounds the request itself: openai's retries happen in
            # there, each attempt bounded by httpx2's read timeout (the idle timeout).
            with self._bounded("the response", idle=False):
                response = await self._create()
            reads = response.aiter_bytes()
            decoder = SSEDecoder()
            splitter = ThinkSplitter()
            finish_reason: str | None = None
            usage: Usage | None = None
            pause = current_pause()
            probe = WaitProbe()
            idle = self._config.idle_timeout
            while not done:
                armed = probe.arm()
                if self._deadline - anyio.current_time() > idle:
                    # httpx2's read timeout, the idle timeout per read, bounds this wait
                    # (no scope and timer per chunk: most come from bytes already read).
                    raw = await anext(reads, None)
                else:
                    with self._bounded("the next chunk"):
                        raw = await anext(reads, None)
                for payload in decoder.close() if raw is None else decoder.feed(raw):
                    if payload.startswith("[DONE]"):
                        done = True
                        break
                    chunk = read_chunk(self._data(payload, response), self._endpoint)
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if chunk.finish_reason is not None:
                        finish_reason = chunk.finish_reason
                    if chunk.reasoning:
                        yield self._note(ReasoningDelta(chunk.reasoning))
                    if chunk.content:
                        for event in splitter.feed(chunk.content):
                            yield self._note(event)
                if raw is None:
                    break
                # Paced: once the bytes already here are read (this read had to wait for
                # the network), the next read waits a while, to take many chunks at once.
                if not done and probe.waited(armed) and (seconds := pause()) > 0:
                    await anyio.sleep(min(seconds, self._deadline - anyio.current_time()))
            for event in splitter.flush():
                yield self._note(event)
            if finish_reason is None and not self._produced:
                # llama.cpp's server, streaming, answers a prompt over its context so.
                raise LLMPromptTooLong(
                    f"model endpoint {self._endpoint} ended the stream before any text and"
                    " without a finish reason: taken as a prompt too long for its context"
                )
            if finish_reason is None:
                raise LLMError(
                    f"model endpoint {self._endpoint} ended the answer without a finish reason"
                )
            usage = usage or self._local_usage()
            if usage is not None:
                self._observer.used(usage.prompt_tokens, usage.completion_tokens)
                yield usage
            yield End(finish_reason)
        except LLMError as exc:  # a timeout, or a stream that ended wrong
            self._observer.errored(exc)
            raise
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            if isinstance(exc, httpx2.ReadTimeout):  # reading the answer, not via openai
                error: LLMError = LLMTimeout(
                    _idle_message(self._endpoint, self._config.idle_timeout)
                )
            else:
                error = translate_error(exc, self._endpoint, answering=response is not None)
            self._observer.errored(error)
            raise error from exc
        finally:
            if response is not None:
                with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                    await finish_response(response, reads, drain=done)

    def _data(self, payload: str, response: httpx2.Response) -> object:
        """One event's JSON; an error the endpoint sends mid-stream raises as openai's."""
        data = read_event(payload, self._endpoint)
        if isinstance(data, dict) and data.get("error"):
            error = data["error"]
            message = error.get("message") if isinstance(error, dict) else None
            raise openai.APIError(
                message if isinstance(message, str) and message else "an error mid-stream",
                request=response.request,
                body=error,
            )
        return data

    async def _create(self) -> httpx2.Response:
        config = self._config
        model = config.model.lower().rsplit("/", 1)[-1]
        new_style = model.startswith(_COMPLETION_TOKENS_PREFIXES)
        params: list[ChatCompletionMessageParam] = [
            _to_param(message) for message in self._messages
        ]
        log.debug("chat completion: model %s, %d messages", config.model, len(params))
        response = await self._client.chat.completions.with_raw_response.create(
            model=config.model,
            messages=params,
            stream=True,
            stream_options={"include_usage": True},
            temperature=openai.omit if config.temperature is None else config.temperature,
            top_p=openai.omit if config.top_p is None else config.top_p,
            max_tokens=openai.omit if new_style else config.max_output_tokens,
            max_completion_tokens=config.max_output_tokens if new_style else openai.omit,
            timeout=_read_timeouts(config),  # whatever the client's: the idle bound
        )
        # The body unread: decoded here, a socket read at a time (the module docstring).
        return response.http_response

    def _bounded(self, what: str, *, idle: bool = True) -> _Bounded:
        idle_timeout = self._config.idle_timeout if idle else math.inf
        return _Bounded(idle_timeout, self._deadline, what, self._endpoint)

    def _note(self, event: TextDelta | ReasoningDelta) -> TextDelta | ReasoningDelta:
        if not self._produced:
            self._observer.first_token(anyio.current_time() - self._started)
        self._produced.append(event.text)
        return event

    def _local_usage(self) -> Usage | None:
        if self._encoding is None:
            return None
        return Usage(
            prompt_tokens=count_messages(self._encoding, self._messages),
            completion_tokens=count_text(self._encoding, "".join(self._produced)),
        )


class _Bounded:
    """A wait bounded by the idle timeout and the overall deadline, whichever is nearer.

    On expiry it raises ``LLMTimeout`` naming the endpoint and which limit passed; ``what``
    says what was being waited for.
    """

    def __init__(self, idle: float, deadline: float, what: str, endpoint: str) -> None:
        self._idle = idle
        self._deadline = deadline
        self._what = what
        self._endpoint = endpoint
        self._scope: anyio.CancelScope | None = None
        self._by_deadline = False

    def __enter__(self) -> None:
        now = anyio.current_time()
        self._by_deadline = self._deadline <= now + self._idle
        self._scope = anyio.CancelScope(deadline=min(now + self._idle, self._deadline))
        self._scope.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        # Never suppresses: the scope swallows only its own cancellation, which becomes
        # the LLMTimeout below (so code after a bounded block may rely on it having run).
        assert self._scope is not None
        self._scope.__exit__(*exc_info)
        if self._scope.cancelled_caught:
            if self._by_deadline:
                raise LLMTimeout(
                    f"the answer from model endpoint {self._endpoint} passed its deadline "
                    f"while waiting for {self._what}"
                )
            raise LLMTimeout(_idle_message(self._endpoint, self._idle, self._what))


def _idle_message(endpoint: str, idle: float, what: str = "the next chunk") -> str:
    return (
        f"model endpoint {endpoint} sent nothing within the idle timeout ({idle:g} s)"
        f" while waiting for {what}"
    )


def _to_param(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        return {"role": "user", "content": message.openai_content()}
    return {"role": "assistant", "content": message.content}
