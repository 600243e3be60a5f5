"""The simulated model's context window, and the ways real servers refuse a prompt over it.

Off by default. With a ``ContextLimit`` set (``ModelSimulator.set_context``, or
``PUT /_emulator/model/context``), a completion whose prompt is longer than
``tokens`` is refused before any script is used up. Prompt tokens are counted the way the
simulator counts everything: one character, one token (the text of every message's
``content``). How it is refused, ``refusal``:

- ``openai``: HTTP 400 with OpenAI's body, code ``context_length_exceeded`` and the
  message "This model's maximum context length is N tokens…" (vLLM and DeepSeek answer
  alike);
- ``empty_stream``: a streamed request gets HTTP 200 and a stream that ends at once, with
  no chunk, no finish reason and no ``[DONE]``: what a llama.cpp server was seen to do;
- ``error_event``: a streamed request gets HTTP 200 and one SSE event carrying llama.cpp's
  error ("the request exceeds the available context size", type
  ``exceed_context_size_error``).

A request that is not streamed gets the 400 in every mode (llama.cpp's body for the two
llama.cpp modes).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field
from starlette.responses import JSONResponse, Response

from bridge.emulator.control.views import View

__all__ = ["ContextLimit", "Refusal", "refusal_response"]

Refusal = Literal["openai", "empty_stream", "error_event"]


class ContextLimit(View):
    """The longest prompt the simulated model takes, in tokens (characters), and its refusal."""

    tokens: int = Field(ge=1)
    refusal: Refusal = "openai"


def refusal_response(limit: ContextLimit, prompt_tokens: int, *, stream: bool) -> Response:
    """The answer to a prompt of ``prompt_tokens`` over ``limit`` (see the module docstring)."""
    if limit.refusal == "openai":
        return JSONResponse(_openai_body(limit, prompt_tokens), status_code=400)
    body = _llama_cpp_body(limit, prompt_tokens)
    if not stream:
        return JSONResponse(body, status_code=400)
    events = b"" if limit.refusal == "empty_stream" else _event(body)
    return Response(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})


def _openai_body(limit: ContextLimit, prompt_tokens: int) -> dict[str, Any]:
    message = (
        f"This model's maximum context length is {limit.tokens} tokens. However, your "
        f"messages resulted in {prompt_tokens} tokens. Please reduce the length of the "
        "messages."
    )
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def _llama_cpp_body(limit: ContextLimit, prompt_tokens: int) -> dict[str, Any]:
    return {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": prompt_tokens,
            "n_ctx": limit.tokens,
        }
    }


def _event(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body)}\n\n".encode()
