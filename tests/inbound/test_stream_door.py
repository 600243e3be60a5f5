"""The Stream door: bot and action frames become Turns, each with the ACK it needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.admission import ACCEPTED, Admission, Outcome
from bridge.errors import InboundError
from bridge.inbound.busy import BusyNotice
from bridge.inbound.stream import Frame, Reply
from bridge.inbound.stream_door import (
    ACTION_TOPIC,
    BOT_TOPIC,
    TOPICS,
    StreamDoor,
    action_response,
    read_frame,
)
from bridge.turn import ConversationType, Turn

REPLY_HOSTS = ("oapi.dingtalk.com", "api.dingtalk.com")


def frame(topic: str, data: Any, message_id: str = "frame-1") -> Frame:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return Frame(type="CALLBACK", topic=topic, message_id=message_id, data=text, headers={})


def bot_message(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "conversationId": "cidGROUP1",
        "conversationType": "2",
        "msgId": "msgA1",
        "msgtype": "text",
        "text": {"content": "你好"},
        "senderStaffId": "staff-alice",
        "senderNick": "Alice",
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=abc",
        "sessionWebhookExpiredTime": 1_700_000_000_000,
    }
    message.update(overrides)
    return message


def graph_request(**params: Any) -> dict[str, Any]:
    """The action topic's data: a graph request whose body is the parameters' JSON string."""
    return {
        "requestLine": {"method": "POST", "uri": "/v1/actions/answer"},
        "headers": {"content-type": "application/json"},
        "body": json.dumps(params, ensure_ascii=False),
    }


WAND = {"rawInput": " 总结一下 ", "userId": "u1", "unionId": "un1", "conversationToken": "ct_1"}


def test_the_door_subscribes_to_the_bot_the_action_and_the_card_topic() -> None:
    """TOPICS are the documented topics bridge reads (§6.2, §13.1)."""
    assert TOPICS == (
        "/v1.0/im/bot/messages/get",
        "/v1.0/graph/api/invoke",
        "/v1.0/card/instances/callback",
    )


def test_bot_frame_becomes_a_turn_acked_with_a_null_response() -> None:
    """A bot frame's Turn has the frame id for dedup; its ACK data is {"response": null}."""
    turn, reply = read_frame(
        frame(BOT_TOPIC, bot_message()),
        assistant="helpdesk",
        robot_code="rb",
        reply_hosts=REPLY_HOSTS,
        received_at=5.0,
    )
    assert (turn.assistant, turn.source, turn.text) == ("helpdesk", "stream_bot", "你好")
    assert turn.conversation_type is ConversationType.GROUP
    assert turn.delivery_ids == ("msg:msgA1", "frame:frame-1")
    assert turn.received_at == 5.0
    assert turn.handles.robot_code == "rb"
    assert reply == Reply(code=200, message="OK", data={"response": None})


def test_bot_frame_keeps_the_robot_code_it_names() -> None:
    """The assistant's robot code only fills in for a message that names none."""
    turn, _ = read_frame(
        frame(BOT_TOPIC, bot_message(robotCode="dingrobot")),
        assistant="helpdesk",
        robot_code="rb",
        reply_hosts=REPLY_HOSTS,
        received_at=0.0,
    )
    assert turn.handles.robot_code == "dingrobot"


def test_action_frame_becomes_a_turn_acked_with_an_http_response() -> None:
    """An action frame's ACK carries the action's HTTP 200 response with {"accepted": true}."""
    turn, reply = read_frame(
        frame(ACTION_TOPIC, graph_request(**WAND)),
        assistant="helpdesk",
        robot_code="rb",
        reply_hosts=REPLY_HOSTS,
        received_at=0.0,
    )
    assert (turn.source, turn.text) == ("stream_action", "总结一下")
    assert turn.conversation_type is ConversationType.MAGIC_WAND
    assert turn.handles.conversation_token == "ct_1"
    assert turn.handles.robot_code == "rb"
    assert turn.delivery_ids == ("act:ct_1", "frame:frame-1")
    assert (reply.code, reply.message) == (200, "OK")
    assert reply.data == {
        "response": {
            "statusLine": {"code": 200, "reasonPhrase": "OK"},
            "headers": {"Content-Type": "application/json"},
            "body": '{"accepted": true}',
        }
    }
    assert json.loads(reply.data["response"]["body"]) == {"accepted": True}


def test_action_frame_with_the_parameters_as_data_is_read_too() -> None:
    """A frame whose data is the parameters object itself (no graph envelope) is accepted."""
    turn, _ = read_frame(
        frame(ACTION_TOPIC, WAND),
        assistant="helpdesk",
        robot_code=None,
        reply_hosts=REPLY_HOSTS,
        received_at=0.0,
    )
    assert turn.handles.conversation_token == "ct_1"


def test_action_response_wraps_any_body_as_a_json_string() -> None:
    """action_response is the §6.5 response: a status line, JSON headers, a string body."""
    response = action_response({"说": "好"})
    assert response["statusLine"] == {"code": 200, "reasonPhrase": "OK"}
    assert json.loads(response["body"]) == {"说": "好"}


@pytest.mark.parametrize(
    ("topic", "data", "status", "words"),
    [
        (BOT_TOPIC, "not json", 400, "frame data is not valid JSON"),
        (BOT_TOPIC, "[1, 2]", 400, "frame data must be a JSON object"),
        (BOT_TOPIC, bot_message(msgId=None), 400, "msgId"),
        (ACTION_TOPIC, {"body": "{nope"}, 400, "action body is not valid JSON"),
        (ACTION_TOPIC, graph_request(rawInput="hi"), 400, "no way to answer"),
        ("/v1.0/card/instances/callback", {}, 404, "not supported"),
    ],
)
def test_unreadable_frames_are_refused_with_a_status(
    topic: str, data: Any, status: int, words: str
) -> None:
    """A frame the door cannot read is an InboundError whose status becomes the ACK code."""
    with pytest.raises(InboundError) as caught:
        read_frame(
            frame(topic, data),
            assistant="a",
            robot_code=None,
            reply_hosts=REPLY_HOSTS,
            received_at=0.0,
        )
    assert caught.value.status == status
    assert words in caught.value.message


def door(
    turns: list[Turn], admission: Admission = ACCEPTED, busy: BusyNotice | None = None
) -> StreamDoor:
    async def accept(turn: Turn) -> Admission:
        turns.append(turn)
        return admission

    return StreamDoor(
        assistant="helpdesk",
        robot_code="rb",
        accept=accept,
        reply_hosts=REPLY_HOSTS,
        busy=busy,
        clock=lambda: 42.0,
    )


class Notices:
    """A BusyNotice stand-in: records the Turns it is asked about, answers ``delivered``."""

    def __init__(self, delivered: bool) -> None:
        self.delivered = delivered
        self.turns: list[Turn] = []

    async def __call__(self, turn: Turn) -> bool:
        self.turns.append(turn)
        return self.delivered


@pytest.mark.anyio
async def test_door_submits_the_turn_and_returns_the_ack() -> None:
    """The door hands the Turn to the pipeline (stamped by its clock) and returns the ACK."""
    turns: list[Turn] = []
    reply = await door(turns)(frame(ACTION_TOPIC, graph_request(**WAND)))
    [turn] = turns
    assert (turn.assistant, turn.received_at, turn.handles.robot_code) == ("helpdesk", 42.0, "rb")
    assert reply.data["response"]["statusLine"]["code"] == 200


@pytest.mark.anyio
async def test_door_refuses_a_webhook_off_the_allow_list_and_submits_nothing() -> None:
    """A sessionWebhook pointing elsewhere is a 400 and no Turn reaches the pipeline."""
    turns: list[Turn] = []
    message = bot_message(sessionWebhook="https://evil.example/steal")
    with pytest.raises(InboundError) as caught:
        await door(turns)(frame(BOT_TOPIC, message))
    assert caught.value.status == 400
    assert turns == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("admission", "status"),
    [(Admission(Outcome.BUSY, "queue full"), 429), (Admission(Outcome.CLOSED), 503)],
)
async def test_a_turn_the_pipeline_does_not_take_is_refused(
    admission: Admission, status: int
) -> None:
    """Busy or shutting down: the ACK carries the refusal's status."""
    with pytest.raises(InboundError) as caught:
        await door([], admission)(frame(BOT_TOPIC, bot_message()))
    assert caught.value.status == status


@pytest.mark.anyio
async def test_a_duplicate_is_acknowledged_like_an_accepted_turn() -> None:
    """A redelivery is ACKed 200: the platform must not send it again."""
    reply = await door([], Admission(Outcome.DUPLICATE))(frame(BOT_TOPIC, bot_message()))
    assert reply.code == 200


BUSY = Admission(Outcome.BUSY, "queue full", retry_after=10.0)


@pytest.mark.anyio
async def test_busy_with_a_webhook_tells_the_user_and_acks_200() -> None:
    """Past the bounds, the busy reply goes through the webhook and the bot frame is ACKed 200."""
    notices = Notices(delivered=True)
    reply = await door([], BUSY, busy=notices)(frame(BOT_TOPIC, bot_message()))
    assert reply == Reply()
    assert [t.conversation_key for t in notices.turns] == ["cidGROUP1"]


@pytest.mark.anyio
async def test_a_busy_action_is_acked_200_with_a_busy_response() -> None:
    """An action whose busy reply went out is ACKed 200; its response says it was not taken."""
    notices = Notices(delivered=True)
    params = {**WAND, "sessionWebhook": "https://api.dingtalk.com/agent/send?x=1"}
    reply = await door([], BUSY, busy=notices)(frame(ACTION_TOPIC, graph_request(**params)))
    assert reply.code == 200
    assert json.loads(reply.data["response"]["body"]) == {"accepted": False, "busy": True}


@pytest.mark.anyio
async def test_busy_when_the_notice_could_not_go_out_is_429() -> None:
    """No usable webhook (or a failed post): the frame is ACKed with 429 instead."""
    notices = Notices(delivered=False)
    with pytest.raises(InboundError) as caught:
        await door([], BUSY, busy=notices)(frame(BOT_TOPIC, bot_message()))
    assert (caught.value.status, caught.value.message) == (429, "queue full")
    assert len(notices.turns) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("topic", "data", "words"),
    [
        (BOT_TOPIC, bot_message(conversationId="cid 1"), "conversationId must be characters"),
        (BOT_TOPIC, bot_message(text={"content": {"x": 1}}), "text.content must be message"),
        (BOT_TOPIC, bot_message(sessionWebhookExpiredTime=-5), "sessionWebhookExpiredTime"),
        (ACTION_TOPIC, graph_request(rawInput=["x"], conversationToken="t"), "rawInput must be"),
        (ACTION_TOPIC, {"body": 5}, "body must be a string"),
        (BOT_TOPIC, '{"a":' + "[" * 500 + "]" * 500 + "}", "nests deeper"),
    ],
)
async def test_a_bad_field_in_a_frame_is_a_400_naming_it(topic: str, data: Any, words: str) -> None:
    """The frame's fields are checked like the HTTP doors': wrong ones are 400s naming them."""
    turns: list[Turn] = []
    with pytest.raises(InboundError) as caught:
        await door(turns)(frame(topic, data))
    assert caught.value.status == 400
    assert words in caught.value.message
    assert turns == []
