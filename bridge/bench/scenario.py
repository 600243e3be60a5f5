"""What the benchmark asks of the simulated model: the mix of replies and their scripts.

A run answers the same list of replies with every pacing strategy. Each reply is a
``ModelScript`` put in the simulated model's library under its own name and picked by a
``[[script=NAME]]`` directive in the user's message, so every strategy sees exactly the
same text, reasoning and stalls whatever order the concurrent requests arrive in.
Timing (time to first token, tokens per second, chunk size) is the model's speed, one
setting for the whole run (``ModelSpeed``).

The mix (``Mix``): short answers that fit the one-shot window, long answers of several
seconds, a few that reason first (``reasoning_content``), and a few long ones that stall
mid-stream (a pause as a tool call or a busy endpoint would cause). Everything is
deterministic in the seed: kinds are dealt in exact proportions and shuffled, lengths
vary by ±25 % around the configured ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.emulator.model.script import (
    Directives,
    GeneratorSpec,
    ModelFault,
    ModelScript,
    ModelSpeed,
    generate,
)

__all__ = ["Mix", "ReplyKind", "ReplySpec", "Scenario", "build_replies", "warm_up_reply"]


class ReplyKind(StrEnum):
    """The shapes of answer in the mix."""

    SHORT = "short"  # ends inside the one-shot window
    LONG = "long"  # several seconds of text
    REASONING = "reasoning"  # reasoning first, then a long answer
    STALL = "stall"  # a long answer that pauses mid-stream

    @property
    def is_long(self) -> bool:
        """Every kind but ``short`` streams for seconds."""
        return self is not ReplyKind.SHORT


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of each kind (they need not add up to 1) and their sizes."""

    short: float = 0.4
    long: float = 0.4
    reasoning: float = 0.1
    stall: float = 0.1
    short_chars: int = 24
    long_chars: int = 240
    reasoning_chars: int = 120
    stall_seconds: float = 2.0

    def shares(self) -> dict[ReplyKind, float]:
        """The share of each kind, normalised to add up to 1."""
        raw = {
            ReplyKind.SHORT: self.short,
            ReplyKind.LONG: self.long,
            ReplyKind.REASONING: self.reasoning,
            ReplyKind.STALL: self.stall,
        }
        total = sum(raw.values())
        if total <= 0 or min(raw.values()) < 0:
            raise ValueError("the mix needs non-negative shares adding up to more than 0")
        return {kind: share / total for kind, share in raw.items()}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One measured configuration: how many replies, how many at once, how fast."""

    replies: int
    concurrency: int
    qps: int = 20
    speed: ModelSpeed = field(default_factory=ModelSpeed)
    mix: Mix = field(default_factory=Mix)
    seed: int = 7


@dataclass(frozen=True, slots=True)
class ReplySpec:
    """One reply of the run: its script and the user message that asks for it."""

    id: str
    kind: ReplyKind
    script: ModelScript

    @property
    def script_name(self) -> str:
        """The script's name in the model's library."""
        return f"bench-{self.id}"

    @property
    def prompt(self) -> str:
        """The user's message: the directive that picks the script, and the reply's id."""
        return f"[[script={self.script_name}]] bench {self.id}"


def _deal(count: int, shares: dict[ReplyKind, float], rng: random.Random) -> list[ReplyKind]:
    """``count`` kinds in the given proportions (largest remainders), shuffled."""
    exact = {kind: share * count for kind, share in shares.items()}
    dealt = {kind: int(value) for kind, value in exact.items()}
    by_remainder = sorted(exact, key=lambda kind: exact[kind] - dealt[kind], reverse=True)
    for kind in by_remainder[: count - sum(dealt.values())]:
        dealt[kind] += 1
    kinds = [kind for kind, n in dealt.items() for _ in range(n)]
    rng.shuffle(kinds)
    return kinds


def _vary(chars: int, rng: random.Random) -> int:
    return max(1, round(chars * rng.uniform(0.75, 1.25)))


def _script(
    reply_id: str, kind: ReplyKind, mix: Mix, speed: ModelSpeed, rng: random.Random
) -> ModelScript:
    directives = Directives(prompt=f"bench {reply_id}")
    if kind is ReplyKind.SHORT:
        return generate(GeneratorSpec(length=mix.short_chars), directives)
    length = _vary(mix.long_chars, rng)
    if kind is ReplyKind.REASONING:
        spec = GeneratorSpec(length=length, reasoning_chars=_vary(mix.reasoning_chars, rng))
        return generate(spec, directives)
    script = generate(GeneratorSpec(length=length), directives)
    if kind is ReplyKind.STALL:
        chunks = -(-length // speed.chunk_chars)
        stall = ModelFault(kind="stall", after_chunks=chunks // 2, seconds=mix.stall_seconds)
        script = script.model_copy(update={"fault": stall})
    return script


def build_replies(scenario: Scenario) -> list[ReplySpec]:
    """The run's replies, the same for every strategy (deterministic in the seed)."""
    rng = random.Random(scenario.seed)
    kinds = _deal(scenario.replies, scenario.mix.shares(), rng)
    specs = []
    for index, kind in enumerate(kinds):
        reply_id = f"r{index:04d}"
        script = _script(reply_id, kind, scenario.mix, scenario.speed, rng)
        specs.append(ReplySpec(id=reply_id, kind=kind, script=script))
    return specs


def warm_up_reply(mix: Mix) -> ReplySpec:
    """The unmeasured short reply a phase starts with (its id is no measured reply's)."""
    reply_id = "warm-up"
    script = generate(GeneratorSpec(length=mix.short_chars), Directives(prompt=f"bench {reply_id}"))
    return ReplySpec(id=reply_id, kind=ReplyKind.SHORT, script=script)
