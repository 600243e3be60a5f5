"""Tests for bridge.bench.strategies: the peers' update decisions with a fake clock."""

from __future__ import annotations

import pytest

from bridge.bench.strategies import (
    PEERS,
    STRATEGIES,
    EveryNChunksPacer,
    FixedIntervalPacer,
    PeerPacer,
    PerChunkPacer,
    TimeOrSizePacer,
    select,
    strategy,
)
from bridge.core.actions import Close, Open, SendOnce, Update, Wait
from bridge.core.events import End, TextDelta
from bridge.core.options import PacingOptions
from bridge.core.pacer import Pacer

OPTIONS = PacingOptions()


def live(pacer: Pacer, first: str = "ab", now: float = 0.0) -> Pacer:
    """Feed a first chunk, open at once (peers have no window) and show it."""
    pacer.feed(TextDelta(first), now)
    assert pacer.next_action(now) == Open()
    pacer.update_done(now, True)
    assert pacer.next_action(now) == Update(first)
    pacer.update_done(now, True)
    return pacer


def test_peers_open_on_the_first_chunk() -> None:
    """A peer has no one-shot window: the first chunk opens the message at once."""
    for make in (PerChunkPacer, FixedIntervalPacer, EveryNChunksPacer, TimeOrSizePacer):
        pacer = make(OPTIONS)
        pacer.feed(TextDelta("hi"), 0.0)
        assert pacer.next_action(0.0) == Open()


def test_bridge_holds_a_short_reply_for_one_call() -> None:
    """The production pacer (``bridge``) still sends a reply inside its window once."""
    pacer = strategy("bridge").make(OPTIONS)
    pacer.feed(TextDelta("hi"), 0.0)
    pacer.feed(End("stop"), 0.2)
    assert pacer.next_action(0.2) == SendOnce("hi")


def test_per_chunk_updates_on_every_chunk() -> None:
    """Each new chunk is an update as soon as nothing is in flight."""
    pacer = live(PerChunkPacer(OPTIONS))
    for index, now in enumerate((0.05, 0.10, 0.15), start=1):
        pacer.feed(TextDelta("c"), now)
        assert pacer.next_action(now) == Update("ab" + "c" * index)
        pacer.update_done(now, True)


def test_fixed_interval_waits_for_a_chunk_past_the_mark() -> None:
    """No timer: text waits until a chunk arrives 800 ms after the last update."""
    pacer = live(FixedIntervalPacer(OPTIONS))
    pacer.feed(TextDelta("cd"), 0.1)
    assert pacer.next_action(0.1) == Wait(None)  # no wake-up at the 0.8 s mark
    pacer.feed(TextDelta("ef"), 0.5)
    assert pacer.next_action(0.5) == Wait(None)
    pacer.feed(TextDelta("gh"), 2.5)  # the first chunk past the mark, after a pause
    assert pacer.next_action(2.5) == Update("abcdefgh")


def test_fixed_interval_leaves_the_tail_to_the_final_call() -> None:
    """Text after the last update is first shown by the close."""
    pacer = live(FixedIntervalPacer(OPTIONS))
    pacer.feed(TextDelta("cd"), 0.1)
    pacer.feed(End("stop"), 0.2)
    assert pacer.next_action(0.2) == Close("abcd", True)


def test_every_n_chunks_counts_chunks() -> None:
    """An update goes out once eight chunks arrived since the last one, not before."""
    pacer = live(EveryNChunksPacer(OPTIONS))
    for index in range(7):
        pacer.feed(TextDelta("x"), 0.1 * (index + 1))
        assert pacer.next_action(0.1 * (index + 1)) == Wait(None)
    pacer.feed(TextDelta("y"), 0.8)
    assert pacer.next_action(0.8) == Update("ab" + "x" * 7 + "y")
    pacer.update_done(0.8, True)
    pacer.feed(TextDelta("z"), 0.9)
    assert pacer.next_action(0.9) == Wait(None)


def test_time_or_size_updates_on_24_characters() -> None:
    """24 new characters trigger an update before the interval has passed."""
    pacer = live(TimeOrSizePacer(OPTIONS))
    pacer.feed(TextDelta("x" * 23), 0.1)
    assert pacer.next_action(0.1) == Wait(0.8)
    pacer.feed(TextDelta("y"), 0.2)
    assert pacer.next_action(0.2) == Update("ab" + "x" * 23 + "y")


def test_time_or_size_has_a_timer() -> None:
    """A small growth is shown by the timer 0.8 s after the last update."""
    pacer = live(TimeOrSizePacer(OPTIONS))
    pacer.feed(TextDelta("cd"), 0.1)
    assert pacer.next_action(0.1) == Wait(0.8)
    assert pacer.next_action(0.8) == Update("abcd")


def test_peers_ignore_the_shared_budget() -> None:
    """A budget share that would stretch bridge's interval changes nothing for a peer."""
    pacer = live(PerChunkPacer(OPTIONS))
    pacer.set_budget_interval(60.0)
    pacer.feed(TextDelta("c"), 0.1)
    assert pacer.next_action(0.1) == Update("abc")


def test_the_registry_runs_every_peer_plain_and_behind_the_budget() -> None:
    """bridge first, then each of the four peers twice: plain, then ``+budget``."""
    assert [s.name for s in STRATEGIES] == [
        "bridge",
        "per-chunk",
        "per-chunk+budget",
        "fixed-800ms",
        "fixed-800ms+budget",
        "every-8-chunks",
        "every-8-chunks+budget",
        "time-or-size",
        "time-or-size+budget",
    ]
    assert [s.shares_budget for s in STRATEGIES] == [True, *[False, True] * 4]


def test_a_budgeted_peer_keeps_its_rule() -> None:
    """``+budget`` changes the client's budget, not the pacer: same family, same class."""
    for peer in PEERS:
        budgeted = peer.with_budget()
        assert budgeted.family == peer.family == peer.name
        assert type(budgeted.make(OPTIONS)) is type(peer.make(OPTIONS))
        assert isinstance(peer.make(OPTIONS), PeerPacer)
    assert all(isinstance(s.make(OPTIONS), Pacer) for s in STRATEGIES)


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    """A name that is no strategy raises ``KeyError`` listing the names."""
    with pytest.raises(KeyError, match="known: bridge"):
        strategy("nope")
    with pytest.raises(KeyError, match="'nope'"):
        select("bridge,nope")


def test_select_takes_names_and_patterns_in_order() -> None:
    """Names keep their order; a pattern expands in registry order; nothing twice."""
    chosen = select("fixed-800ms+budget, bridge,*+budget")
    assert [s.name for s in chosen] == [
        "fixed-800ms+budget",
        "bridge",
        "per-chunk+budget",
        "every-8-chunks+budget",
        "time-or-size+budget",
    ]
    assert [s.name for s in select("time-or-size*")] == ["time-or-size", "time-or-size+budget"]
