"""Tests for bridge.dingtalk.signature: the robot HTTP-callback HMAC."""

from __future__ import annotations

import pytest

from bridge.dingtalk.signature import ReplayGuard, card_sign, sign, verify, verify_card
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


# ------------------------------------------------------------------ replay guard

NOW = int(STAMP) + 1_000


def test_replay_guard_refuses_a_pair_used_for_another_message() -> None:
    """A captured timestamp/sign pair cannot carry a second message (401)."""
    guard = ReplayGuard()
    guard.check(STAMP, VECTOR, "msg-1", now_ms=NOW)
    with pytest.raises(InboundError) as caught:
        guard.check(STAMP, VECTOR, "msg-2", now_ms=NOW + 60_000)
    assert caught.value.status == 401
    assert "already used" in caught.value.message


def test_replay_guard_lets_the_same_message_come_again() -> None:
    """A redelivery of the same message with the same pair passes (dedup answers once)."""
    guard = ReplayGuard()
    guard.check(STAMP, VECTOR, "msg-1", now_ms=NOW)
    guard.check(STAMP, VECTOR, "msg-1", now_ms=NOW + 600_000)


def test_replay_guard_allows_messages_signed_in_the_same_instant() -> None:
    """Two messages sent within the grace share a pair legitimately; later, no more."""
    guard = ReplayGuard(reuse_grace=2.0)
    guard.check(STAMP, VECTOR, "msg-1", now_ms=NOW)
    guard.check(STAMP, VECTOR, "msg-2", now_ms=NOW + 1_500)
    with pytest.raises(InboundError):
        guard.check(STAMP, VECTOR, "msg-3", now_ms=NOW + 2_500)


def test_replay_guard_forgets_pairs_outside_the_window_and_stays_bounded() -> None:
    """Entries go once their timestamp is stale; never more than max_entries are kept."""
    guard = ReplayGuard(window_s=10, max_entries=3)
    for i in range(5):
        guard.check(str(int(STAMP) + i), f"s{i}", f"m{i}", now_ms=NOW)
    assert len(guard) == 3
    guard.check("9999999999999", "later", "m9", now_ms=int(STAMP) + 60_000)
    assert len(guard) == 1


def test_card_signature_matches_the_contract_vector() -> None:
    """§13.1: base64(HMAC-SHA256(apiSecret, str(timestamp))), computed locally."""
    assert card_sign(1577262236757, "this is a secret") == (
        "cviWWKk4OPwVpK0VGNkvThhQ7PXwQPYvJhM+/YVA1VI="
    )


def test_card_callbacks_verify_within_the_window_only() -> None:
    """A good pair passes; a bad signature, a stale stamp or no header is a 401."""
    now = 1_700_000_000_000
    verify_card(str(now), card_sign(now, "k"), "k", now_ms=now + 1000)
    for stamp, signature in (
        (str(now), card_sign(now, "other")),
        (str(now - 2 * 3600 * 1000), card_sign(now - 2 * 3600 * 1000, "k")),
        (None, card_sign(now, "k")),
    ):
        with pytest.raises(InboundError) as refused:
            verify_card(stamp, signature, "k", now_ms=now)
        assert refused.value.status == 401
