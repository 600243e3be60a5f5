"""The callback signatures: robot (contract §6.4) and card (§13.1)."""

from __future__ import annotations

from bridge.emulator.webhooks.signature import card_sign, sign


def test_the_contract_test_vector() -> None:
    """Timestamp 1577262236757 and secret "this is a secret" sign as the contract says."""
    expected = "DJrE6qdyVGCQz9z5r2MDuNcNAhwYnuAkyj13cx169CA="
    assert sign(1577262236757, "this is a secret") == expected
    assert sign("1577262236757", "this is a secret") == expected


def test_the_signature_depends_on_time_and_secret() -> None:
    """Another timestamp or another secret gives another signature."""
    base = sign(1577262236757, "this is a secret")
    assert sign(1577262236758, "this is a secret") != base
    assert sign(1577262236757, "another secret") != base


def test_the_card_signature_test_vector() -> None:
    """apiSecret "this is a secret" at 1577262236757 gives the contract's x-ddpaas-signature."""
    expected = "cviWWKk4OPwVpK0VGNkvThhQ7PXwQPYvJhM+/YVA1VI="
    assert card_sign(1577262236757, "this is a secret") == expected
    assert card_sign("1577262236757", "this is a secret") == expected
