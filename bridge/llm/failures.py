"""How a model endpoint's failures become ``LLMError``s that say what broke.

``translate_error`` turns an openai or httpx2 exception into the ``LLMError`` the LLM
source raises (``bridge.llm.source``): it names the endpoint (its base URL, never a
key) and says in plain words what happened (cannot connect, timed out, closed the
connection before answering or mid-answer, the HTTP status with the server's own
message, or an error event the server sent inside the stream). ``prompt_too_long``
recognises the endpoints' ways of refusing a prompt as longer than the model's context,
which ``bridge.llm.fit`` answers by asking again with less history.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx2
import openai

from bridge.errors import LLMError, LLMPromptTooLong, LLMRateLimited, LLMTimeout, LLMUnreachable

__all__ = ["prompt_too_long", "translate_error"]


def translate_error(exc: BaseException, endpoint: str = "", *, answering: bool = False) -> LLMError:
    """The ``LLMError`` for an openai or httpx2 failure, naming the endpoint and what broke.

    ``endpoint`` is the base URL to name (``endpoint_url``: no credentials); ``answering``
    says whether the response had started, which decides between "cannot connect" or
    "closed the connection before answering" and "closed the connection mid-answer".
    """
    where = f"model endpoint {endpoint}" if endpoint else "the model endpoint"
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited(f"{where} is rate limiting: {_api_message(exc)}", status=429)
    if isinstance(exc, openai.APIError) and prompt_too_long(exc):
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
        return LLMPromptTooLong(
            f"{where} refused the prompt as too long: {_api_message(exc)}", status=status
        )
    if isinstance(exc, openai.APIStatusError):
        return LLMError(
            f"{where} answered with an error: {_api_message(exc)}", status=exc.status_code
        )
    phase = "mid-answer" if answering else "before answering"
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        if _caused_by(exc, httpx2.ConnectTimeout):
            return LLMTimeout(f"{where} timed out: no connection within the connect timeout")
        return LLMTimeout(f"{where} timed out {phase}")
    if _caused_by(exc, httpx2.ConnectError) or (
        isinstance(exc, openai.APIConnectionError) and not answering and not _closed(exc)
    ):
        return LLMUnreachable(f"cannot connect to {where}: {_reason(exc)}")
    if _closed(exc):
        return LLMError(f"{where} closed the connection {phase}")
    if isinstance(exc, openai.APIConnectionError | httpx2.HTTPError):
        return LLMError(f"{where} failed {phase}: {_reason(exc)}")
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        return LLMError(f"{where} reported an error {phase}: {_api_message(exc)}")
    return LLMError(f"{where}: the request failed: {exc}")


# How endpoints say a prompt is over the context: OpenAI, vLLM and DeepSeek ("This
# model's maximum context length is …", code context_length_exceeded), llama.cpp ("the
# request exceeds the available context size", type exceed_context_size_error),
# DashScope ("Range of input length should be …"), others ("too many tokens").
_TOO_LONG = {"context_length_exceeded", "exceed_context_size", "context length", "context size"}
_TOO_LONG |= {"context window", "too many tokens", "prompt is too long", "input length"}


def prompt_too_long(exc: openai.APIError) -> bool:
    """True when ``exc`` is the endpoint refusing the prompt as longer than its context.

    A 413 (the request body itself), or a 400 or an error event in the stream (llama.cpp
    sends those after an HTTP 200) whose code, type or message says so.
    """
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 413:
            return True
        if exc.status_code != 400:
            return False
    body = exc.body
    inner = body.get("error", body) if isinstance(body, Mapping) else None
    said = [exc.message, getattr(exc, "code", None)]
    if isinstance(inner, Mapping):
        said += [inner.get("message"), inner.get("code"), inner.get("type")]
    words = " ".join(str(s).lower() for s in said if s is not None)
    return any(w in words for w in _TOO_LONG)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (``raise … from``, or raised while handling), outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(link, kind) for link in _chain(exc))


def _closed(exc: BaseException) -> bool:
    """The server (or the network) ended the connection: no answer, or half of one."""
    return _caused_by(exc, httpx2.RemoteProtocolError) or _caused_by(exc, httpx2.ReadError)


def _reason(exc: BaseException) -> str:
    """The most specific words available: the OS's (``Connection refused``), else httpx2's."""
    for link in _chain(exc):
        if isinstance(link, OSError) and (link.errno or link.strerror):
            # asyncio words a refusal "Connect call failed (…)"; the errno says "refused".
            words = os.strerror(link.errno) if link.errno else str(link.strerror)
            return words[0].lower() + words[1:]
    for link in reversed(_chain(exc)):
        if str(link):
            return str(link)
    return type(exc).__name__


def _api_message(exc: openai.APIError) -> str:
    """The server's own message from an error answer, else openai's summary of it."""
    body = exc.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return exc.message
