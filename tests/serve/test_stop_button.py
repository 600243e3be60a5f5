"""The stop button of a streaming AI card, end to end, over Stream and over HTTP.

A real ``Bridge`` serves against the emulator; the emulator's user presses the card's
button (``EmulatorControl.press_button``) and DingTalk's callback reaches bridge as the
card was created to send it: a Stream CALLBACK frame, or a signed POST to the URL
registered for the card's route key. The model stalls after a few chunks so the answer
is surely streaming when the press comes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import MessageView
from tests.serve.conftest import ACTION_TOKEN, TEMPLATE, Served, answer_in
from tests.serve.test_stops import assert_stopped, long_answer_streaming

CARDS = {"prefer": ["ai_card"], "card_template_id": TEMPLATE, "card_template_key": "content"}
CREATE = "card.instances.createAndDeliver"
UPDATE = "card.instances.update"
REGISTER = "card.callbacks.register"
ROUTE_KEY = "bridge-dev"
CARD_SECRET = "card-callback-secret"


async def card_of(control: EmulatorControl) -> str:
    """The outTrackId of the one card bridge created."""
    [created] = await control.calls(operations=[CREATE])
    out_track_id: str = created.request["outTrackId"]
    return out_track_id


def updates_after(message: MessageView, moment: float) -> int:
    """How many times the text of ``message`` changed from ``moment`` on."""
    count, previous = 0, None
    for change in message.changes:
        if change.at >= moment and change.text != previous:
            count += 1
        previous = change.text
    return count


async def stopped_by_button(served: Served, conversation: str, user: str) -> None:
    """Ask a long question as ``user``; press the stop button of its card once it streams;
    check the card closed as stopped and the model's stream was closed."""
    control = served.control
    asked = await long_answer_streaming(served, user, conversation)
    press = await control.press_button(await card_of(control), user)
    emission = await served.model.wait_finished(0)
    shown = await answer_in(control, conversation, asked.message.created_at)
    assert await served.bridge.pipeline.drain(10)  # the close's last call has returned
    answer = await control.message(shown.id)
    assert press.error is None
    assert press.status == 200
    assert emission.outcome == "disconnected"  # the model's stream was closed
    assert_stopped(answer, emission.text)
    # The card's last update: finished, the button hidden.
    closing = (await control.calls(operations=[UPDATE]))[-1].request["cardData"]["cardParamMap"]
    assert closing == {"flowStatus": "3", "stop_action": "false", "hasAction": "false"}
    # Within one update interval: once the model's stream is closed, the text changes
    # at most once more (the closing), never an intermediate update first.
    assert emission.finished_at is not None
    assert updates_after(answer, emission.finished_at) <= 1
    assert updates_after(answer, press.at) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("conversation", ["cid-alice", "cid-group"], ids=["single", "group"])
async def test_the_stop_button_over_stream_stops_the_card(
    serve: Callable[..., Any], conversation: str
) -> None:
    """A press over Stream closes the model's stream and the card: its text so far, the
    stopped mark, finished, the button hidden."""
    async with serve(delivery=CARDS) as served:
        await stopped_by_button(served, conversation, "alice")
        [created] = await served.control.calls(operations=[CREATE])
        [press] = await served.control.presses()
    assert created.request["callbackType"] == "STREAM"
    assert press.route == "stream"
    assert press.response == {"response": {"success": True}}


@pytest.mark.anyio
async def test_someone_else_pressing_in_a_group_changes_nothing(
    serve: Callable[..., Any],
) -> None:
    """In a group only the one who asked may stop: bob's press is answered, and alice's
    answer streams on to its end."""
    async with serve(delivery=CARDS) as served:
        control = served.control
        asked = await long_answer_streaming(served, "alice", "cid-group")
        press = await control.press_button(await card_of(control), "bob")
        served.model.release_stalls()
        answer = await answer_in(control, "cid-group", asked.message.created_at)
        emission = await served.model.wait_finished(0)
    assert press.status == 200
    assert emission.outcome == "complete"
    assert answer.state == "finished"
    assert not answer.text.endswith("（已停止）")


@pytest.mark.anyio
async def test_the_stop_button_over_http_stops_the_card(serve: Callable[..., Any]) -> None:
    """With a route key the card asks for HTTP callbacks; the press arrives signed at
    /dingtalk/<assistant>/card and stops the card the same way."""
    chat = {"card_callback_route_key": ROUTE_KEY, "card_callback_secret": CARD_SECRET}
    async with serve(serve={"stream": False}, delivery=CARDS, chat=chat) as served:
        url = served.bridge.http_url
        await served.control.register_callbacks(
            "dingbridge-dev",
            robot_url=f"{url}/dingtalk/dev/robot",
            action_url=f"{url}/dingtalk/dev/action",
            action_token=ACTION_TOKEN,
        )
        # As an operator would, once: the route key points at the card door.
        client = served.bridge.clients["dev"]
        card_door = f"{url}/dingtalk/dev/card"
        assert await client.register_card_callback(
            ROUTE_KEY, card_door, api_secret=CARD_SECRET
        ) in (None, card_door)
        await stopped_by_button(served, "cid-alice", "alice")
        [created] = await served.control.calls(operations=[CREATE])
        [press] = await served.control.presses()
    assert created.request["callbackType"] == "HTTP"
    assert created.request["callbackRouteKey"] == ROUTE_KEY
    assert press.route == "http"
    assert press.url == card_door
    assert press.response == {"success": True}


@pytest.mark.anyio
async def test_bridge_serve_registers_its_card_callback_url_at_start_up(
    serve: Callable[..., Any],
) -> None:
    """[chat] card_callback_url: one register call at start-up, forced, with the secret."""
    door = "https://bridge.example.com/dingtalk/dev/card"
    chat = {
        "card_callback_route_key": ROUTE_KEY,
        "card_callback_secret": CARD_SECRET,
        "card_callback_url": door,
    }
    async with serve(serve={"stream": False}, chat=chat) as served:
        calls = await served.control.calls(operations=[REGISTER])
    [call] = calls
    assert call.status == 200
    assert call.request == {
        "callbackRouteKey": ROUTE_KEY,
        "callbackUrl": door,
        "apiSecret": CARD_SECRET,
        "forceUpdate": True,
    }
