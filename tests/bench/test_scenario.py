"""Tests for bridge.bench.scenario: the reply mix is exact, varied and reproducible."""

from __future__ import annotations

from collections import Counter

from bridge.bench.scenario import Mix, ReplyKind, Scenario, build_replies
from bridge.emulator.model.script import ModelSpeed, parse_directives


def test_kinds_are_dealt_in_proportion() -> None:
    """Twenty replies of the default mix: 8 short, 8 long, 2 reasoning, 2 stalling."""
    specs = build_replies(Scenario(replies=20, concurrency=10))
    counts = Counter(spec.kind for spec in specs)
    assert counts == {
        ReplyKind.SHORT: 8,
        ReplyKind.LONG: 8,
        ReplyKind.REASONING: 2,
        ReplyKind.STALL: 2,
    }


def test_the_same_seed_gives_the_same_replies() -> None:
    """Every strategy of a run sees identical scripts; another seed deals differently."""
    scenario = Scenario(replies=30, concurrency=5)
    assert build_replies(scenario) == build_replies(scenario)
    other = build_replies(Scenario(replies=30, concurrency=5, seed=8))
    assert [s.kind for s in other] != [s.kind for s in build_replies(scenario)]


def test_scripts_match_their_kind() -> None:
    """Short ones fit the window, reasoning ones reason, stalling ones pause mid-stream."""
    mix = Mix(short_chars=24, long_chars=240, reasoning_chars=120, stall_seconds=2.0)
    speed = ModelSpeed(chunk_chars=2)
    for spec in build_replies(Scenario(replies=40, concurrency=4, speed=speed, mix=mix)):
        script = spec.script
        if spec.kind is ReplyKind.SHORT:
            assert len(script.text) == 24
        else:
            assert 180 <= len(script.text) <= 300
        assert bool(script.reasoning) == (spec.kind is ReplyKind.REASONING)
        if spec.kind is ReplyKind.STALL:
            assert script.fault is not None
            assert script.fault.kind == "stall"
            assert script.fault.after_chunks == len(script.text) // 2 // 2
        else:
            assert script.fault is None


def test_the_prompt_picks_the_script_by_name() -> None:
    """The user's message carries the library directive and a unique id."""
    specs = build_replies(Scenario(replies=3, concurrency=1))
    assert len({spec.prompt for spec in specs}) == 3
    for spec in specs:
        assert parse_directives(spec.prompt).script == spec.script_name
