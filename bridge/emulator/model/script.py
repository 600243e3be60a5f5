"""What the simulated model says and how fast: scripts, the default generator, faults.

Pure values and functions, no I/O, shared by the simulator (``simulator``) and whoever
drives it (tests, the benchmark, ``bridge dev``). The control API speaks these models as
JSON, and ``ModelSimulator`` takes them as Python objects.

**Choosing a reply.** A ``[[script=NAME]]`` directive in the last user message picks a
script from the library; else the next queued script is used (FIFO); else the default
generator writes one.

**Directives** (in the last user message, removed from the echoed text; several may share
one pair of brackets, separated by spaces):

- ``[[len=800]]``       reply with exactly 800 characters of deterministic text;
- ``[[reasoning=200]]`` add 200 characters of reasoning as ``delta.reasoning_content``;
- ``[[think=200]]``     add 200 characters of reasoning inside ``<think>…</think>``;
- ``[[lang=zh]]``       generate Chinese filler instead of English;
- ``[[script=NAME]]``   use the library script NAME.

**Default generator.** ``You said: <prompt>.`` when no length is asked for; with a
length, that sentence followed by fixed filler sentences (a blank line every four), cut
to exactly the length. The same prompt always gives the same reply.

**Timing.** A "token" is one character (close to the truth for Chinese, which is what
DingTalk users mostly write). The first chunk goes out ``ttft`` seconds after the request,
then one chunk of ``chunk_chars`` characters every ``chunk_chars / tokens_per_second``
seconds. A non-streamed request answers after the same total time.

**Faults.** ``status`` answers the request with that HTTP status and an OpenAI-style
error body (no script is used up, so a retry gets the reply); ``drop`` aborts the
connection after ``after_chunks`` content chunks; ``stall`` stops sending for ``seconds``
after ``after_chunks`` chunks, then carries on; ``error`` sends, after ``after_chunks``
chunks, the event OpenAI sends for an error mid-stream (``data: {"error": {...}}`` with
``message``) and ends the stream there. A fault installed on the simulator hits
the next ``count`` completions (``None``: every one); a script's own fault hits only it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from bridge.emulator.control.views import View

ReasoningStyle = Literal["field", "think"]
ChunkField = Literal["content", "reasoning_content"]

_DIRECTIVE = re.compile(r"\[\[([^\[\]]*)\]\]")

_FILLER = {
    "en": (
        "The quick brown fox jumps over the lazy dog.",
        "Streaming text arrives one small piece at a time.",
        "Every update carries the whole answer so far.",
        "A slow model still shows progress now and then.",
        "Markdown stays readable while it is being written.",
        "The final message holds the complete answer.",
    ),
    "zh": (
        "敏捷的棕色狐狸跳过了懒狗。",
        "流式文本一小段一小段地到达。",
        "每次更新都带上目前为止的完整回答。",
        "模型再慢，也会不时显示进度。",
        "正在书写的 Markdown 依然清晰可读。",
        "最后一条消息包含完整的回答。",
    ),
}


class ModelSpeed(View):
    """How fast the simulated model answers."""

    ttft: float = Field(default=0.3, ge=0)
    tokens_per_second: float = Field(default=40.0, gt=0)
    chunk_chars: int = Field(default=4, ge=1)

    @property
    def interval(self) -> float:
        """Seconds between two chunks."""
        return self.chunk_chars / self.tokens_per_second


class SpeedUpdate(View):
    """A partial change of ``ModelSpeed``: the fields given are replaced."""

    ttft: float | None = Field(default=None, ge=0)
    tokens_per_second: float | None = Field(default=None, gt=0)
    chunk_chars: int | None = Field(default=None, ge=1)


class ModelFault(View):
    """A fault of the simulated model (see the module docstring)."""

    kind: Literal["drop", "stall", "status", "error"]
    after_chunks: int = Field(default=0, ge=0)
    seconds: float = Field(default=5.0, ge=0)
    status: int = Field(default=500, ge=400, le=599)
    message: str = "simulated failure"
    retry_after: float | None = Field(default=None, ge=0)
    count: int | None = Field(default=1, ge=1)


class ModelScript(View):
    """One scripted reply."""

    text: str
    reasoning: str = ""
    reasoning_style: ReasoningStyle = "field"
    finish_reason: str = "stop"
    usage: bool = True  # report usage when the request asks for it (some servers never do)
    fault: ModelFault | None = None


class GeneratorSpec(View):
    """The default generator: used when no script applies (directives override it)."""

    length: int | None = Field(default=None, ge=0)
    reasoning_chars: int = Field(default=0, ge=0)
    reasoning_style: ReasoningStyle = "field"
    language: Literal["en", "zh"] = "en"


@dataclass(frozen=True, slots=True)
class Directives:
    """What the last user message asked of the generator."""

    prompt: str
    length: int | None = None
    reasoning: int | None = None
    reasoning_style: ReasoningStyle | None = None
    language: Literal["en", "zh"] | None = None
    script: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedChunk:
    """One chunk to send: which delta field it fills, and with what."""

    field: ChunkField
    text: str


def parse_directives(text: str) -> Directives:
    """The directives in ``text`` and the text without them (unknown ones are ignored)."""
    values: dict[str, str] = {}
    for match in _DIRECTIVE.finditer(text):
        for item in match.group(1).replace(",", " ").split():
            key, _, value = item.partition("=")
            values[key.strip().lower()] = value.strip()
    prompt = " ".join(_DIRECTIVE.sub(" ", text).split())
    length = _int(values.get("len"))
    think = _int(values.get("think"))
    reasoning = _int(values.get("reasoning"))
    lang = values.get("lang")
    language: Literal["en", "zh"] | None = "en" if lang == "en" else "zh" if lang == "zh" else None
    return Directives(
        prompt=prompt,
        length=length,
        reasoning=think if think is not None else reasoning,
        reasoning_style="think" if think is not None else "field" if reasoning else None,
        language=language,
        script=values.get("script") or None,
    )


def _int(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)


def generate(spec: GeneratorSpec, directives: Directives) -> ModelScript:
    """The default generator's reply (deterministic in its inputs)."""
    language = directives.language or spec.language
    length = directives.length if directives.length is not None else spec.length
    opening = f"You said: {directives.prompt}." if directives.prompt else "You said nothing."
    text = opening if length is None else _fill(opening + " ", language, length)
    reasoning_chars = (
        directives.reasoning if directives.reasoning is not None else spec.reasoning_chars
    )
    style = directives.reasoning_style or spec.reasoning_style
    reasoning = _fill("Thinking about it. ", language, reasoning_chars) if reasoning_chars else ""
    return ModelScript(text=text, reasoning=reasoning, reasoning_style=style)


def _fill(opening: str, language: Literal["en", "zh"], length: int) -> str:
    sentences = _FILLER[language]
    separator = "" if language == "zh" else " "
    parts = [opening]
    size = len(opening)
    index = 0
    while size < length:
        sentence = sentences[index % len(sentences)]
        piece = sentence + ("\n\n" if index % 4 == 3 else separator)
        parts.append(piece)
        size += len(piece)
        index += 1
    return "".join(parts)[:length]


def plan_chunks(script: ModelScript, chunk_chars: int) -> list[PlannedChunk]:
    """The chunks that stream ``script``, each at most ``chunk_chars`` characters.

    ``think`` style sends the reasoning inside the content, tags included, chunked like
    the rest: tags get cut across chunks exactly as a real server would cut them.
    """
    if script.reasoning and script.reasoning_style == "think":
        content = f"<think>\n{script.reasoning}\n</think>\n\n{script.text}"
        return _split("content", content, chunk_chars)
    return [
        *_split("reasoning_content", script.reasoning, chunk_chars),
        *_split("content", script.text, chunk_chars),
    ]


def _split(field: ChunkField, text: str, size: int) -> list[PlannedChunk]:
    return [PlannedChunk(field, text[i : i + size]) for i in range(0, len(text), size)]
