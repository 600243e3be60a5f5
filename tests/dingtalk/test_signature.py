"""Tests for bridge.dingtalk.signature: the robot HTTP-callback HMAC."""

from __future__ import annotations

import pytest

from bridge.dingtalk.signature import sign, verify
from bridge.errors import InboundError

STAMP = "1577262236757"
SECRET = "this is a secret"
VECTOR = "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="


def test_sign_matches_the_contract_vector() -> None:
    """sign() reproduces the test vector of the wire contract §6.4."""
    assert sign(STAMP, SECRET) == VECTOR
    assert sign(int(STAMP), SECRET) == VECTOR


def test_verify_accepts_a_fresh_valid_signature() -> None:
    """A correct signature within the window passes."""
    verify(STAMP, VECTOR, SECRET, now_ms=int(STAMP) + 59_000)


def test_verify_accepts_a_timestamp_slightly_ahead() -> None:
    """Clock drift the other way (timestamp in our future) inside the window passes."""
    verify(STAMP, VECTOR, SECRET, now_ms=int(STAMP) - 10_000)


def test_verify_rejects_a_stale_timestamp() -> None:
    """A timestamp older than the window is refused with 401."""
    with pytest.raises(InboundError) as caught:
        verify(STAMP, VECTOR, SECRET, now_ms=int(STAMP) + 3_600_001)
    assert caught.value.status == 401


def test_verify_honours_a_custom_window() -> None:
    """window_s narrows the accepted age."""
    with pytest.raises(InboundError):
        verify(STAMP, VECTOR, SECRET, now_ms=int(STAMP) + 61_000, window_s=60)


def test_verify_rejects_a_bad_signature() -> None:
    """A signature made with another secret is refused with 401."""
    with pytest.raises(InboundError) as caught:
        verify(STAMP, sign(STAMP, "another secret"), SECRET, now_ms=int(STAMP))
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("stamp", "signature"), [(None, VECTOR), (STAMP, None), ("", ""), ("x", VECTOR)]
)
def test_verify_rejects_missing_or_malformed_headers(
    stamp: str | None, signature: str | None
) -> None:
    """A missing header or a non-numeric timestamp is refused with 401."""
    with pytest.raises(InboundError) as caught:
        verify(stamp, signature, SECRET, now_ms=int(STAMP))
    assert caught.value.status == 401


def test_verify_rejects_non_ascii_signature_without_crashing() -> None:
    """A garbage non-ASCII sign header is a clean 401, not an exception of another type."""
    with pytest.raises(InboundError):
        verify(STAMP, "签名", SECRET, now_ms=int(STAMP))
