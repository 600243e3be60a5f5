"""Tests of bridge.emulator.model.script: directives, the generator, chunk plans."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.emulator.model.script import (
    GeneratorSpec,
    ModelScript,
    ModelSpeed,
    generate,
    parse_directives,
    plan_chunks,
)


def test_directives_are_parsed_and_removed() -> None:
    """[[…]] directives are read, and the prompt is the text without them."""
    found = parse_directives("write [[len=800]] a poem [[reasoning=20 lang=zh]]")
    assert found.prompt == "write a poem"
    assert (found.length, found.reasoning, found.reasoning_style, found.language) == (
        800,
        20,
        "field",
        "zh",
    )


def test_think_directive_and_script_name() -> None:
    """[[think=N]] asks for tagged reasoning; [[script=NAME]] names a library script."""
    found = parse_directives("[[think=5, script=greeting]]")
    assert (found.reasoning, found.reasoning_style, found.script) == (5, "think", "greeting")


def test_bad_directive_values_are_ignored() -> None:
    """Malformed or unknown directives change nothing."""
    found = parse_directives("hi [[len=lots colour=red lang=fr]]")
    assert (found.prompt, found.length, found.language) == ("hi", None, None)


def test_generator_echoes_without_length() -> None:
    """With no length asked for, the reply echoes the prompt."""
    assert generate(GeneratorSpec(), parse_directives("hello")).text == "You said: hello."


@given(length=st.integers(min_value=0, max_value=3000), lang=st.sampled_from(["en", "zh"]))
def test_generator_gives_exactly_the_length(length: int, lang: str) -> None:
    """[[len=N]] gives exactly N characters, the same every time."""
    directives = parse_directives(f"q [[len={length} lang={lang}]]")
    first = generate(GeneratorSpec(), directives)
    assert len(first.text) == length
    assert generate(GeneratorSpec(), directives) == first


def test_generator_reasoning_from_spec_and_directive() -> None:
    """Reasoning length and style come from the directive, else from the spec."""
    spec = GeneratorSpec(reasoning_chars=12, reasoning_style="think")
    assert generate(spec, parse_directives("q")).reasoning_style == "think"
    assert len(generate(spec, parse_directives("q")).reasoning) == 12
    assert len(generate(spec, parse_directives("q [[reasoning=30]]")).reasoning) == 30
    assert generate(spec, parse_directives("q [[reasoning=30]]")).reasoning_style == "field"


def test_field_style_plans_reasoning_then_content() -> None:
    """Field-style reasoning goes out first as reasoning_content chunks."""
    plan = plan_chunks(ModelScript(text="abcdef", reasoning="xyz"), 4)
    assert [(p.field, p.text) for p in plan] == [
        ("reasoning_content", "xyz"),
        ("content", "abcd"),
        ("content", "ef"),
    ]


def test_think_style_plans_tags_inside_content() -> None:
    """Think-style reasoning is sent in the content, wrapped in <think> tags."""
    plan = plan_chunks(ModelScript(text="ok", reasoning="hm", reasoning_style="think"), 5)
    assert {p.field for p in plan} == {"content"}
    assert "".join(p.text for p in plan) == "<think>\nhm\n</think>\n\nok"


@given(text=st.text(max_size=200), size=st.integers(min_value=1, max_value=50))
def test_plan_rejoins_to_the_text(text: str, size: int) -> None:
    """Chunks are at most chunk_chars long and rejoin to the script's text."""
    plan = plan_chunks(ModelScript(text=text), size)
    assert "".join(p.text for p in plan) == text
    assert all(0 < len(p.text) <= size for p in plan)


def test_interval_is_chunk_chars_over_tokens_per_second() -> None:
    """One chunk every chunk_chars / tokens_per_second seconds."""
    assert ModelSpeed(tokens_per_second=40, chunk_chars=4).interval == 0.1
