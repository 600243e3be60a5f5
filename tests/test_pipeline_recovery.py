"""The pipeline recovering: replaying Turns a gone process left journaled (in order, too
old ones told their answer was lost, unreadable ones dropped), and riding out a store
that becomes unreachable (new Turns refused as unavailable, a lane waiting it out).
"""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest

from bridge.admission import Outcome
from bridge.errors import StateError
from bridge.state import JournalEntry, MemoryStore, Store, Verdict
from tests.pipeline_fakes import LOST, Clock, Recorder, pipeline, turn

# ---------------------------------------------------------------- replay


async def left_behind(store: Store, texts: list[tuple[str, str]], *, at: float) -> None:
    """Journal Turns as a process that then died would have left them."""
    clock = Clock(at)
    gate = anyio.Event()  # never opened: nothing is answered
    async with pipeline(Recorder(gate=gate), store=store, clock=clock) as p:
        for text, conversation in texts:
            assert (await p.accept(turn(text, conversation=conversation))).taken


@pytest.mark.anyio
async def test_replay_answers_in_original_order_per_conversation() -> None:
    """Turns a gone process journaled are answered, each conversation in arrival order."""
    store = MemoryStore()
    arrivals = [("a1", "c1"), ("b1", "c2"), ("a2", "c1"), ("c1", "c3"), ("b2", "c2"), ("a3", "c1")]
    await left_behind(store, arrivals, at=1000.0)
    recorder = Recorder()
    async with pipeline(recorder, store=store, clock=Clock(1100.0), owner="me") as p:
        adopted = await store.adopt_turns("me", now=1100.0)
        assert await p.replay(adopted) == 6
        assert await p.drain(10)
    for prefix in ("a", "b", "c"):
        answers = [s for s in recorder.shown if s.startswith(f"re: {prefix}")]
        assert answers == [f"re: {t}" for t, _ in arrivals if t.startswith(prefix)]
    assert len(recorder.shown) == 6
    assert await store.journaled() == []
    assert p.stats.replayed == 6


@pytest.mark.anyio
async def test_replay_tells_a_too_old_turn_once_that_its_answer_was_lost() -> None:
    """Past replay_max_age, the user is told once, the model is not asked, the entry goes."""
    store = MemoryStore()
    await left_behind(store, [("old", "c1")], at=1000.0)
    await left_behind(store, [("new", "c2")], at=4500.0)
    recorder = Recorder()
    async with pipeline(recorder, store=store, clock=Clock(4700.0), owner="me") as p:
        await p.replay(await store.adopt_turns("me", now=4700.0))
        assert await p.drain(10)
    assert sorted(recorder.shown) == sorted([LOST, "re: new"])
    assert [m[-1].content for m in recorder.prompts] == ["new"]
    assert await store.journaled() == []
    assert (p.stats.lost, p.stats.replayed) == (1, 1)


@pytest.mark.anyio
async def test_replay_drops_entries_nobody_can_answer() -> None:
    """An unreadable entry, or one of an assistant no longer configured, is removed."""
    store = MemoryStore()
    stranger = replace(turn("hi"), assistant="gone")
    for n, payload in enumerate(["{not json", stranger.to_json()]):
        entry = JournalEntry(f"t{n}", "x/c", payload, 1.0, "", (f"k{n}",))
        await store.admit(entry, now=1.0, dedup_ttl=60, max_per_lane=9, max_total=9)
    recorder = Recorder()
    async with pipeline(recorder, store=store, owner="me") as p:
        assert await p.replay(await store.adopt_turns("me", now=2.0)) == 0
    assert await store.journaled() == []
    assert recorder.shown == []


# ---------------------------------------------------------------- an unreachable store


class Flaky(MemoryStore):
    """A memory store that fails every call with StateError while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.finish_refused = anyio.Event()

    def _check(self) -> None:
        if self.down:
            raise StateError("connection refused", location="redis://test")

    async def admit(self, entry: JournalEntry, **bounds: float) -> Verdict:  # type: ignore[override]
        self._check()
        return await super().admit(entry, **bounds)  # type: ignore[arg-type]

    async def next_turn(self, lane: str, owner: str) -> JournalEntry | None:
        self._check()
        return await super().next_turn(lane, owner)

    async def finish(self, turn_id: str, *, now: float) -> None:
        if self.down:
            self.finish_refused.set()
        self._check()
        await super().finish(turn_id, now=now)


@pytest.mark.anyio
async def test_an_unreachable_store_refuses_new_turns_as_unavailable() -> None:
    """While the store is down a Turn is UNAVAILABLE (nothing recorded); after, it is taken."""
    store, recorder = Flaky(), Recorder()
    async with pipeline(recorder, store=store) as p:
        store.down = True
        refused = await p.accept(turn("q", ids=("msg:1",)))
        store.down = False
        again = await p.accept(turn("q", ids=("msg:1",)))
        assert await p.drain(10)
    assert (refused.outcome, refused.retry_after) == (Outcome.UNAVAILABLE, 5.0)
    assert "connection refused" in refused.reason
    assert again.outcome is Outcome.ACCEPTED
    assert recorder.shown == ["re: q"]
    assert p.stats.unavailable == 1


@pytest.mark.anyio
async def test_a_lane_waits_out_the_store_and_answers_each_turn_once() -> None:
    """The store goes away mid-answer: the answer is delivered, removed once it is back,
    and the next Turn follows, each answered once."""
    gate, store = anyio.Event(), Flaky()
    recorder = Recorder(gate=gate, expect_running=1)
    async with pipeline(recorder, store=store) as p:
        await p.accept(turn("q0"))
        await p.accept(turn("q1"))
        with anyio.fail_after(5):
            await recorder.reached.wait()
        store.down = True
        gate.set()  # q0's answer completes while the store is away
        with anyio.fail_after(5):
            await store.finish_refused.wait()
        assert recorder.shown == ["re: q0"]
        store.down = False
        assert await p.drain(10)
    assert recorder.shown == ["re: q0", "re: q1"]
    assert await store.journaled() == []
