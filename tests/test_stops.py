"""Tests for bridge.stops: who may stop which reply, repeats, lanes' drops, the mailbox."""

from __future__ import annotations

import anyio
import pytest

from bridge.state.stop_mailbox import MemoryStopMailbox, StopRequest
from bridge.stops import StopOutcome, Stops
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn

pytestmark = pytest.mark.anyio

LANE = "dev/cid-group"


def turn(sender: str = "alice", *, group: bool = True, token: str | None = None) -> Turn:
    """A Turn of ``sender`` (staff id = name) in the group, or a single chat."""
    return Turn(
        assistant="dev",
        source="stream_bot",
        conversation_type=ConversationType.GROUP if group else ConversationType.SINGLE,
        conversation_key="cid-group",
        conversation_title="",
        sender=Sender(staff_id=sender, union_id=f"u-{sender}", nick=sender),
        text="hi",
        handles=ReplyHandles(conversation_token=token),
        received_at=0.0,
    )


def card(requester: str | None, out_track_id: str = "card-1") -> StopRequest:
    """The stop button's request for a card, clicked by ``requester``."""
    who = frozenset({requester}) if requester else frozenset()
    return StopRequest(f"card:{out_track_id}", who, "stop button")


async def test_the_requester_stops_their_card_once() -> None:
    """The button of an opened card stops its reply; a second click is a repeat."""
    stops = Stops(clock=lambda: 0.0)
    with stops.running(turn("alice"), LANE) as reply:
        reply.opened({"out_track_id": "card-1", "key": "content"})
        assert await stops.request(card("alice")) is StopOutcome.STOPPED
        assert reply.stopped
        assert reply.reason == "stop button"
        assert await stops.request(card("alice")) is StopOutcome.REPEATED
    assert await stops.request(card("alice")) is StopOutcome.UNKNOWN  # ended: forgotten


async def test_in_a_group_only_the_requester_may_stop() -> None:
    """Bob's click, or a click naming nobody, does not stop Alice's answer in a group."""
    stops = Stops(clock=lambda: 0.0)
    with stops.running(turn("alice"), LANE) as reply:
        reply.opened({"out_track_id": "card-1"})
        assert await stops.request(card("bob")) is StopOutcome.REFUSED
        assert await stops.request(card(None)) is StopOutcome.REFUSED
        assert not reply.stopped


async def test_in_a_single_chat_its_user_stops_even_unnamed() -> None:
    """A single chat has one user: a callback without a user id still stops it."""
    stops = Stops(clock=lambda: 0.0)
    with stops.running(turn("alice", group=False), LANE) as reply:
        reply.opened({"out_track_id": "card-1"})
        assert await stops.request(card(None)) is StopOutcome.STOPPED


async def test_the_turns_token_is_a_target_from_the_start() -> None:
    """An AI-assistant card's callback names the conversationToken of the Turn."""
    stops = Stops(clock=lambda: 0.0)
    with stops.running(turn("alice", token="ct-1"), LANE) as reply:
        request = StopRequest("token:ct-1", frozenset({"alice"}), "stop button")
        assert await stops.request(request) is StopOutcome.STOPPED
        assert reply.stopped


async def test_a_lane_stop_drops_the_requesters_waiting_turns_until_it() -> None:
    """A stop word: Alice's Turns before it are dropped, Bob's are not, then it ends."""
    stops = Stops(clock=lambda: 0.0)
    request = StopRequest(f"lane:{LANE}", frozenset({"alice"}), "stop word", until="t-stop")
    with stops.running(turn("alice"), LANE) as reply:
        assert await stops.request(request) is StopOutcome.STOPPED
        assert reply.stopped
    assert stops.drops(LANE, "t-a2", turn("alice"))
    assert not stops.drops(LANE, "t-b1", turn("bob"))
    assert not stops.drops(LANE, "t-stop", turn("alice"))  # the Turn that asked
    assert not stops.drops(LANE, "t-a3", turn("alice"))  # after it: answered


async def test_a_lane_stop_for_a_turn_already_run_changes_nothing() -> None:
    """A late request (its Turn answered already) neither stops nor drops."""
    stops = Stops(clock=lambda: 0.0)
    assert not stops.drops(LANE, "t-new", turn("alice"))  # t-new ran
    request = StopRequest(f"lane:{LANE}", frozenset({"alice"}), "newer message", until="t-new")
    with stops.running(turn("alice"), LANE) as reply:
        assert await stops.request(request) is StopOutcome.REPEATED
        assert not reply.stopped
    assert not stops.drops(LANE, "t-later", turn("alice"))


async def test_a_drop_expires_when_its_turn_never_comes() -> None:
    """A drop waits for its Turn at most DROP_TTL."""
    now = [0.0]
    stops = Stops(clock=lambda: now[0])
    request = StopRequest(f"lane:{LANE}", frozenset({"alice"}), "stop word", until="t-stop")
    await stops.request(request)
    now[0] = 10_000.0
    assert not stops.drops(LANE, "t-a2", turn("alice"))


async def test_a_stop_for_another_instance_goes_through_the_mailbox() -> None:
    """Two processes, one mailbox: the button reaches the instance running the card."""
    mailbox = MemoryStopMailbox(clock=lambda: 0.0)
    here = Stops(clock=lambda: 0.0, mailbox=mailbox)
    there = Stops(clock=lambda: 0.0, mailbox=mailbox)
    with there.running(turn("alice"), LANE) as reply:
        reply.opened({"out_track_id": "card-1"})
        assert await here.request(card("alice")) is StopOutcome.FORWARDED
        async with anyio.create_task_group() as tg:
            tg.start_soon(there.poll_forever)
            with anyio.fail_after(5):
                await reply.wait()
            tg.cancel_scope.cancel()
    assert reply.reason == "stop button"


async def test_a_lane_stop_for_another_instance_drops_there() -> None:
    """A stop word accepted here for a lane worked on there: there drops the Turns."""
    mailbox = MemoryStopMailbox(clock=lambda: 0.0)
    here = Stops(clock=lambda: 0.0, mailbox=mailbox)
    there = Stops(clock=lambda: 0.0, mailbox=mailbox, lanes=lambda: [LANE])
    request = StopRequest(f"lane:{LANE}", frozenset({"alice"}), "stop word", until="t-stop")
    assert await here.request(request) is StopOutcome.FORWARDED
    async with anyio.create_task_group() as tg:
        tg.start_soon(there.poll_forever)
        with anyio.fail_after(5):
            await mailbox.taken.wait()
        tg.cancel_scope.cancel()
    assert there.drops(LANE, "t-a2", turn("alice"))


async def test_an_unreachable_mailbox_loses_the_stop_with_a_warning() -> None:
    """Redis away: the request is not forwarded; nothing breaks."""
    mailbox = MemoryStopMailbox(clock=lambda: 0.0)
    mailbox.reachable = False
    stops = Stops(clock=lambda: 0.0, mailbox=mailbox)
    assert await stops.request(card("alice")) is StopOutcome.UNKNOWN
