"""Tests of bridge.llm.endpoint: a model endpoint named without its credentials."""

from __future__ import annotations

import pytest

from bridge.llm.endpoint import endpoint_url


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("https://api.deepseek.com/v1", "https://api.deepseek.com/v1"),
        ("https://api.deepseek.com/v1/", "https://api.deepseek.com/v1"),
        ("http://user:sk-secret@10.0.0.5:8000/v1", "http://10.0.0.5:8000/v1"),
        (
            "https://x.openai.azure.com/openai?api-key=sk-secret#f",
            "https://x.openai.azure.com/openai",
        ),
        ("http://[::1]:11434/v1", "http://[::1]:11434/v1"),
    ],
)
def test_credentials_query_and_fragment_are_dropped(given: str, shown: str) -> None:
    """User, password, query and fragment never appear; scheme, host, port and path do."""
    assert endpoint_url(given) == shown
    assert "secret" not in endpoint_url(given)
