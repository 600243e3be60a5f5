"""Card instances and AI card streaming (§4 I and J).

A card is created (``flowStatus`` 1, preparing), delivered into one or more chats (a
message appears in each), then updated through ``PUT /v1.0/card/instances``
(``cardParamMap``) and ``PUT /v1.0/card/streaming`` (one variable, full or appended).
Every streaming call carries a ``guid``: a repeated guid is acknowledged and changes
nothing. ``isFinalize`` finishes the card and ``isError`` fails it, as do flowStatus 3/5.

A card remembers where its button presses go (§13.1: ``callbackType`` ``STREAM``, or
``HTTP`` with a ``callbackRouteKey``) and, per chat it shows in, the place a press
reports (space, conversation and, in an AI assistant's chat, the conversationToken the
platform issued there last). Its stop button (§13.3) shows while the card is inputting
and its variables ``stop_action``/``hasAction`` (v1/v2 templates) say "true"; the last
create or update naming them decides, and a finished or failed card shows none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.emulator.control.views import LimitsView
from bridge.emulator.errors import Rejection, bad_request
from bridge.emulator.openapi.apps import App
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.world.content import Template, Templates, visible_text
from bridge.emulator.world.transcript import Conversation, MessageState, Transcript

FLOW_STATES: dict[str, MessageState] = {
    "1": MessageState.PREPARING,  # processing
    "2": MessageState.INPUTTING,
    "3": MessageState.FINISHED,
    "4": MessageState.INPUTTING,  # executing
    "5": MessageState.FAILED,
}
SPACE_PREFIX = "dtv1.card//"
STOP_VARIABLES = ("stop_action", "hasAction")
CALLBACK_TYPES = ("STREAM", "HTTP")

TokenOf = Callable[[str, str], str | None]
"""The newest conversationToken an app was issued in a conversation (``ai.latest``)."""


@dataclass(frozen=True, slots=True)
class CardPlace:
    """One chat a card was delivered to, as a press callback reports it."""

    space_type: str
    space_id: str
    conversation_id: str
    conversation_token: str | None


@dataclass
class CardInstance:
    """A card: its template, variables, flow state and the messages showing it."""

    out_track_id: str
    template: Template
    client_id: str
    variables: dict[str, Any]
    state: MessageState
    message_ids: list[str] = field(default_factory=list)
    guids: set[str] = field(default_factory=set)
    callback_type: str | None = None
    callback_route_key: str | None = None
    button: bool = False  # what the stop button's variables say
    places: dict[str, CardPlace] = field(default_factory=dict)  # by message id

    @property
    def text(self) -> str:
        """What the card shows."""
        return visible_text(self.template, self.variables)

    @property
    def stop_button(self) -> bool:
        """Whether the stop button shows: only while the card is inputting (§13.3)."""
        return self.button and self.state is MessageState.INPUTTING


def _button(params: Mapping[str, Any], current: bool) -> bool:
    """The stop button's variables after ``params``: the ones it names decide."""
    named = [params[name] for name in STOP_VARIABLES if name in params]
    return all(value == "true" for value in named) if named else current


def _stream_error(field_name: str, message: str) -> Rejection:
    return bad_request(f"param.stream.{field_name}", message)


def _param_map(body: dict[str, Any]) -> dict[str, Any]:
    card_data = body.get("cardData") or {}
    if not isinstance(card_data, dict):
        raise bad_request("param.cardData", "cardData must be an object")
    params = card_data.get("cardParamMap") or {}
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise bad_request("param.cardParamMap", "cardParamMap values must be strings")
    if "flowStatus" in params and params["flowStatus"] not in FLOW_STATES:
        raise bad_request("param.cardParamMap", "flowStatus must be one of 1..5")
    return params


class Cards:
    """Card instances by outTrackId."""

    def __init__(
        self,
        transcript: Transcript,
        templates: Templates,
        limits: Callable[[], LimitsView],
        token_of: TokenOf | None = None,
    ) -> None:
        self._transcript = transcript
        self._templates = templates
        self._limits = limits
        self._token_of = token_of
        self.instances: dict[str, CardInstance] = {}

    def create(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """J1: a card in flowStatus 1 (or whatever ``cardParamMap`` says), not yet visible."""
        card = self._new_card(app, body)
        return {"success": True, "result": card.out_track_id}

    def deliver(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """J2: show the card in the chats named by ``openSpaceId``."""
        card = self._card(body.get("outTrackId"), app)
        return {"success": True, "result": self._deliver(app, card, body)}

    def create_and_deliver(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """J1+J2 in one call."""
        card = self._new_card(app, body)
        results = self._deliver(app, card, body)
        return {
            "success": True,
            "result": {"outTrackId": card.out_track_id, "deliverResults": results},
        }

    def update(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """J3/J4: merge ``cardParamMap`` (flowStatus moves the card's state)."""
        card = self._card(body.get("outTrackId"), app)
        params = _param_map(body)
        state = FLOW_STATES[params["flowStatus"]] if "flowStatus" in params else card.state
        if card.state.is_final:
            if state is card.state:
                return {"success": True, "result": True}
            raise bad_request("param.cardParamMap", "card flow is already finished")
        card.variables.update(params)
        card.button = _button(params, card.button)
        self._show(card, state)
        return {"success": True, "result": True}

    def stream(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """I: set or append one variable; finalize or fail the card."""
        out_track_id, guid, key = body.get("outTrackId"), body.get("guid"), body.get("key")
        content = body.get("content")
        if not isinstance(guid, str) or not guid:
            raise _stream_error("guidEmpty", "guid is empty")
        if not isinstance(key, str) or not key:
            raise _stream_error("keyEmpty", "key is empty")
        if not isinstance(content, str):
            raise _stream_error("contentEmpty", "content is empty")
        card = self.instances.get(out_track_id) if isinstance(out_track_id, str) else None
        if card is None or card.client_id != app.client_id:
            raise _stream_error("outTrackId", "card is not exist")
        flags = {
            name: body.get(name, default)
            for name, default in (("isFull", True), ("isFinalize", False), ("isError", False))
        }
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise _stream_error(name, f"{name} must be a boolean")
        if guid in card.guids:
            return {"success": True, "result": True}
        if card.state.is_final:
            raise _stream_error("isFinalize", "card streaming is already finished")
        value = content if flags["isFull"] else f"{card.variables.get(key, '')}{content}"
        if len(value) > self._limits().card_content_chars:
            raise _stream_error("content", "content is too large")
        card.guids.add(guid)
        card.variables[key] = value
        if flags["isError"]:
            state = MessageState.FAILED
        elif flags["isFinalize"]:
            state = MessageState.FINISHED
        else:
            state = MessageState.INPUTTING
        self._show(card, state)
        return {"success": True, "result": True}

    # -- helpers -------------------------------------------------------------------------

    def _new_card(self, app: App, body: dict[str, Any]) -> CardInstance:
        template_id, out_track_id = body.get("cardTemplateId"), body.get("outTrackId")
        if not isinstance(template_id, str) or not template_id:
            raise bad_request("param.cardTemplateId", "cardTemplateId is empty")
        template = self._templates.get(template_id)
        if template is None:
            raise bad_request("param.cardTemplateId", "card template not exist")
        if not isinstance(out_track_id, str) or not out_track_id:
            raise bad_request("param.outTrackId", "outTrackId is empty")
        if out_track_id in self.instances:
            raise bad_request("param.outTrackId", "outTrackId already exists")
        params = _param_map(body)
        callback_type, route_key = body.get("callbackType"), body.get("callbackRouteKey")
        if callback_type is not None and callback_type not in CALLBACK_TYPES:
            raise bad_request("param.callbackType", "callbackType must be STREAM or HTTP")
        if callback_type == "HTTP" and (not isinstance(route_key, str) or not route_key):
            raise bad_request("param.callbackRouteKey", "callbackRouteKey is empty")
        card = CardInstance(
            out_track_id=out_track_id,
            template=template,
            client_id=app.client_id,
            variables=dict(params),
            state=FLOW_STATES[params.get("flowStatus", "1")],
            callback_type=callback_type,
            callback_route_key=route_key if callback_type == "HTTP" else None,
            button=_button(params, False),
        )
        self.instances[out_track_id] = card
        return card

    def _card(self, out_track_id: object, app: App) -> CardInstance:
        card = self.instances.get(out_track_id) if isinstance(out_track_id, str) else None
        if card is None or card.client_id != app.client_id:
            raise bad_request("param.outTrackId", "card is not exist")
        return card

    def _deliver(self, app: App, card: CardInstance, body: dict[str, Any]) -> list[dict[str, Any]]:
        spaces = body.get("openSpaceId")
        if not isinstance(spaces, str) or not spaces:
            raise bad_request("param.openSpaceId", "openSpaceId is empty")
        results = []
        for space in filter(None, spaces.split(";")):
            space_type, _, space_id = space.removeprefix(SPACE_PREFIX).partition(".")
            conversation = self._space(space_type, space_id)
            result: dict[str, Any] = {
                "spaceType": space_type,
                "spaceId": space_id,
                "success": conversation is not None,
                "errorMsg": "" if conversation is not None else "invalid openSpaceId",
                "carrierId": "",
            }
            if conversation is not None:
                message = self._transcript.post(
                    conversation.id,
                    sender_kind="bot",
                    sender_id=app.client_id,
                    via=Api.CARD_DELIVER,
                    state=card.state,
                    text=card.text,
                    template_id=card.template.template_id,
                    card_data=card.variables,
                    out_track_id=card.out_track_id,
                    stop_button=card.stop_button,
                )
                card.message_ids.append(message.id)
                token = self._token_of(app.client_id, conversation.id) if self._token_of else None
                card.places[message.id] = CardPlace(space_type, space_id, conversation.id, token)
                result["carrierId"] = message.id
            results.append(result)
        return results

    def _space(self, space_type: str, space_id: str) -> Conversation | None:
        if space_type == "IM_GROUP":
            return self._transcript.by_open_id(space_id)
        if space_type == "IM_ROBOT" and space_id in self._transcript.users:
            return self._transcript.single_chat_with(space_id)
        return None

    def _show(self, card: CardInstance, state: MessageState) -> None:
        card.state = state
        for message_id in card.message_ids:
            message = self._transcript.messages[message_id]
            if not message.state.is_final:
                self._transcript.change(
                    message,
                    state=state,
                    text=card.text,
                    card_data=card.variables,
                    stop_button=card.stop_button,
                )
