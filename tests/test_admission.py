"""The intake bounds of Turns answered directly (pushes): ``Places``."""

from __future__ import annotations

import pytest

from bridge.admission import IntakeLimits, Outcome, Places, Refused

LIMITS = IntakeLimits(per_conversation=2, total=3, retry_after=7.0)


def test_a_conversation_takes_places_up_to_its_bound() -> None:
    """The third push in one conversation is BUSY while two hold their places."""
    places = Places(LIMITS)
    with places.held("push:user:a", others=0), places.held("push:user:a", others=0):
        busy = places.admit("push:user:a", others=0)
        other = places.admit("push:user:b", others=0)
    assert busy.outcome is Outcome.BUSY
    assert busy.retry_after == 7.0
    assert other.taken


def test_the_total_counts_journaled_turns_too() -> None:
    """Journaled Turns (``others``) and held places share ``total``."""
    places = Places(LIMITS)
    with places.held("push:user:a", others=0):
        assert places.admit("push:user:b", others=1).taken
        assert places.admit("push:user:b", others=2).outcome is Outcome.BUSY


def test_a_refused_place_is_raised_as_429_and_holds_nothing() -> None:
    """Past a bound ``held`` raises ``Refused`` (429) and takes no place."""
    places = Places(IntakeLimits(per_conversation=1, total=10))
    with places.held("k", others=0), pytest.raises(Refused) as refused:
        places.held("k", others=0).__enter__()
    assert refused.value.status == 429
    assert places.admit("k", others=0).taken


def test_a_place_is_given_back_when_the_answer_fails() -> None:
    """An answer that raises gives its place back."""
    places = Places(IntakeLimits(per_conversation=1, total=10))
    with pytest.raises(RuntimeError), places.held("k", others=0):
        raise RuntimeError("model failed")
    assert places.admit("k", others=0).taken
