"""The token-ratio measurement (tests/llm/token_ratios.py) still runs, and still holds.

The measuring tokenizers are not dependencies of bridge: without them the report still
runs (tiktoken's columns only, each missing tokenizer listed as skipped) and the check
of the default factor is skipped. Where they are installed (see the script's
docstring; ``BRIDGE_TOKENIZERS_NPM`` names the ``node_modules`` with the npm ones), the
default cl100k factor must stay above every ratio they measure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.config import DEFAULT_TOKEN_FACTORS
from bridge.llm.tokens import Encodings
from tests.llm.token_ratios import model_tokenizers, report, samples, worst_ratios


def test_samples_hold_chinese_english_and_mixed_text() -> None:
    """The three kinds of text are there, none empty."""
    kinds = samples()
    assert set(kinds) == {"zh", "en", "mixed"}
    assert all(text for texts in kinds.values() for _, text in texts)


def test_report_runs_without_the_measuring_tokenizers(encodings: Encodings) -> None:
    """The report renders whatever is installed, and names what is not."""
    text = report(None, encodings)
    assert "**All texts of a kind together**" in text
    assert "| emulator zh filler (2000 chars) | 2000 |" in text
    models, skipped = model_tokenizers(None)
    assert len(models) + len(skipped) >= 4  # the npm ones are always listed one way or another


def test_default_cl100k_factor_covers_every_installed_tokenizer(encodings: Encodings) -> None:
    """Where measuring tokenizers are installed, 2.0 is above each one's worst text."""
    npm = os.environ.get("BRIDGE_TOKENIZERS_NPM")
    models, _ = model_tokenizers(Path(npm) if npm else None)
    if not models:
        pytest.skip("no measuring tokenizer installed (see tests/llm/token_ratios.py)")
    worst = worst_ratios(models, encodings.get("cl100k_base"))
    assert max(worst.values()) <= DEFAULT_TOKEN_FACTORS["cl100k_base"], worst
