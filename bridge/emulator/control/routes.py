"""The emulator's own JSON control API, under ``/_emulator``.

Tests, the benchmark and the sandbox page drive the emulated world through it (the typed
client is ``client.EmulatorControl``). Bodies and answers are the models of
``views``; errors are ``{"error": "<what>"}`` with 400/404/409, or 422 with ``details``
when a body does not validate.

World
  ``GET  /_emulator/world``                     apps, users, conversations, templates, limits
  ``POST /_emulator/reset``                     ``{"defaults": true}``: rebuild the world
  ``POST /_emulator/apps``                      ``{client_id, client_secret, kind, robot_code?,
                                                name?}`` → app
  ``PUT  /_emulator/apps/{client_id}/quota``    ``{"monthly": n | null, "used": n?}`` → app
  ``POST /_emulator/users``                     ``{user_id, nick, union_id?}`` → user
  ``POST /_emulator/conversations``             ``{type, members, title?, id?}`` → conversation
  ``POST /_emulator/templates``                 ``{template_id, text_variable,
                                                streaming_variables?}`` → template
Chat
  ``POST /_emulator/inbound``                   ``{user_id, conversation_id, text, client_id?,
                                                deliver?, as?, at_bot?, variant?, msgtype?,
                                                media_id?, rich_text?, duration_ms?}``
                                                → ``{message, chatbot_message, action,
                                                delivery}``; ``deliver`` is ``stream``,
                                                ``http`` or ``none``, ``as`` the door
                                                (``robot``/``action``), see
                                                ``webhooks.dispatch``; a group message
                                                is delivered only with ``at_bot``
                                                (``webhooks.inbound``); ``msgtype``
                                                ``picture``/``audio``/``video``/``file``
                                                names a medium by ``media_id``, a
                                                ``richText`` lists ``{text}`` and
                                                ``{media_id}`` items; an audio message's
                                                ``text`` is its recognition
                                                (``media.messages``)
  ``GET  /_emulator/conversations/{id}/messages``  → ``{"messages": [...]}`` oldest first
  ``GET  /_emulator/messages?state=inputting&state=preparing``  → ``{"messages": [...]}``
  ``GET  /_emulator/messages/{id}``             → message (with every change)
Wire
  ``GET  /_emulator/calls?since=N&operation=…`` → ``{"calls": [...]}`` (seq > N)
  ``GET|POST|DELETE /_emulator/faults``         list / add a ``FaultSpec`` / clear all
  ``DELETE /_emulator/faults/{id}``             remove one
  ``GET|PUT /_emulator/limits``                 read / change (fields given are replaced)
  ``GET  /_emulator/clock``, ``POST /_emulator/clock/advance`` ``{"seconds": s}``
  ``GET  /_emulator/events``                    server-sent events: ``ready`` once
                                                subscribed, then ``message.changed``,
                                                ``call.logged``, ``stream.connected``,
                                                ``stream.closed``, ``stream.frame``,
                                                ``stream.ack``, ``callback.posted`` and
                                                ``card.pressed`` (``data`` is an
                                                ``EventView``)
Stream gateway and HTTP callbacks: see ``stream``; card buttons (press one, the presses
made): see ``cards``; media (upload, list, bytes): see ``media.routes``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from bridge.emulator.control.cards import card_control_routes
from bridge.emulator.control.stream import patched, stream_control_routes
from bridge.emulator.control.views import (
    AppKind,
    CallbackDoor,
    CallbackVariant,
    ConversationType,
    DeliverHow,
    FaultSpec,
    MsgType,
    RichItem,
    View,
)
from bridge.emulator.errors import EmulatorError
from bridge.emulator.media.messages import content_of
from bridge.emulator.openapi.endpoints import Api
from bridge.emulator.state import Emulator
from bridge.emulator.webhooks.dispatch import dispatch
from bridge.emulator.world.transcript import MessageState

PREFIX = "/_emulator"


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResetBody(_Body):
    """``POST /reset``."""

    defaults: bool = True


class AppBody(_Body):
    """``POST /apps``."""

    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    kind: AppKind = "assistant"
    robot_code: str | None = None
    name: str | None = None


class QuotaBody(_Body):
    """``PUT /apps/{client_id}/quota``."""

    monthly: int | None = Field(default=None, ge=0)
    used: int | None = Field(default=None, ge=0)


class UserBody(_Body):
    """``POST /users``."""

    user_id: str = Field(min_length=1)
    nick: str
    union_id: str | None = None


class ConversationBody(_Body):
    """``POST /conversations``."""

    type: ConversationType
    members: list[str]
    title: str = ""
    id: str | None = None


class TemplateBody(_Body):
    """``POST /templates``."""

    template_id: str = Field(min_length=1)
    text_variable: str = Field(min_length=1)
    streaming_variables: list[str] | None = None


class InboundBody(_Body):
    """``POST /inbound``; ``deliver``/``as``/``variant`` default as ``dispatch`` says."""

    user_id: str
    conversation_id: str
    text: str = ""
    client_id: str | None = None
    deliver: DeliverHow | None = None
    door: CallbackDoor | None = Field(default=None, alias="as")
    at_bot: bool = True
    variant: CallbackVariant = "ok"
    msgtype: MsgType = "text"
    media_id: str | None = None
    rich_text: list[RichItem] = Field(default_factory=list)
    duration_ms: int | None = Field(default=None, ge=1)


class AdvanceBody(_Body):
    """``POST /clock/advance``."""

    seconds: float = Field(ge=0)


Handler = Callable[[Request], Awaitable[Any]]
M = TypeVar("M", bound=BaseModel)


def _json(value: Any, status: int = 200) -> JSONResponse:
    if isinstance(value, View):
        value = value.model_dump(mode="json")
    return JSONResponse(value, status_code=status)


async def _parse(request: Request, model: type[M]) -> M:
    raw = await request.body()
    return model.model_validate_json(raw or b"{}")


def _endpoint(handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: JSON out, control errors and validation errors as JSON."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except EmulatorError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except ValidationError as exc:
            details = json.loads(exc.json(include_url=False, include_input=False))
            return JSONResponse({"error": "invalid body", "details": details}, status_code=422)
        return result if isinstance(result, Response) else _json(result, status)

    return endpoint


def control_routes(emulator: Emulator) -> list[BaseRoute]:
    """The control API, mounted at ``/_emulator``."""

    async def world(request: Request) -> Any:
        return emulator.world()

    async def reset(request: Request) -> Any:
        body = await _parse(request, ResetBody)
        emulator.reset(defaults=body.defaults)
        return emulator.world()

    async def add_app(request: Request) -> Any:
        body = await _parse(request, AppBody)
        app = emulator.apps.register(
            body.client_id, body.client_secret, body.kind, body.robot_code, body.name
        )
        return app.view()

    async def set_quota(request: Request) -> Any:
        body = await _parse(request, QuotaBody)
        app = emulator.apps.app(request.path_params["client_id"])
        app.monthly_quota = body.monthly
        if body.used is not None:
            app.calls_this_month = body.used
        return app.view()

    async def add_user(request: Request) -> Any:
        body = await _parse(request, UserBody)
        return emulator.transcript.add_user(body.user_id, body.nick, body.union_id).view()

    async def add_conversation(request: Request) -> Any:
        body = await _parse(request, ConversationBody)
        return emulator.transcript.add_conversation(
            body.type, body.members, body.title, body.id
        ).view()

    async def add_template(request: Request) -> Any:
        body = await _parse(request, TemplateBody)
        return emulator.register_template(
            body.template_id, body.text_variable, body.streaming_variables
        ).view()

    async def inbound(request: Request) -> Any:
        body = await _parse(request, InboundBody)
        content = content_of(
            body.msgtype,
            text=body.text,
            media_id=body.media_id,
            rich_text=body.rich_text,
            duration_ms=body.duration_ms,
            library=emulator.media,
        )
        said = emulator.inbound(
            body.user_id,
            body.conversation_id,
            body.text,
            client_id=body.client_id,
            base_url=str(request.base_url).rstrip("/"),
            mentioned=body.at_bot,
            content=content,
        )
        delivery = await dispatch(
            emulator, said, how=body.deliver, door=body.door, variant=body.variant
        )
        return said.view().model_copy(update={"delivery": delivery})

    async def transcript(request: Request) -> Any:
        messages = emulator.transcript.in_conversation(request.path_params["conversation_id"])
        return {"messages": [m.view().model_dump(mode="json") for m in messages]}

    async def messages(request: Request) -> Any:
        try:
            states = [MessageState(s) for s in request.query_params.getlist("state")]
        except ValueError as exc:
            raise EmulatorError(str(exc)) from None
        found = emulator.transcript.in_states(states or list(MessageState))
        return {"messages": [m.view().model_dump(mode="json") for m in found]}

    async def message(request: Request) -> Any:
        return emulator.transcript.message(request.path_params["message_id"]).view()

    async def calls(request: Request) -> Any:
        try:
            since = int(request.query_params.get("since", "0"))
            operations = [Api(o) for o in request.query_params.getlist("operation")]
        except ValueError as exc:
            raise EmulatorError(str(exc)) from None
        found = emulator.calls.since(since, operations or None)
        return {"calls": [c.model_dump(mode="json") for c in found]}

    async def faults(request: Request) -> Any:
        if request.method == "POST":
            spec = await _parse(request, FaultSpec)
            return emulator.faults.add(spec).view()
        if request.method == "DELETE":
            removed = len(emulator.faults.all())
            emulator.faults.clear()
            return {"removed": removed}
        return {"faults": [f.view().model_dump(mode="json") for f in emulator.faults.all()]}

    async def fault(request: Request) -> Any:
        if not emulator.faults.remove(request.path_params["fault_id"]):
            raise EmulatorError(f"unknown fault {request.path_params['fault_id']}", status=404)
        return {"removed": 1}

    async def limits(request: Request) -> Any:
        if request.method == "PUT":
            emulator.set_limits(patched(emulator.limits, await request.body(), "limits"))
        return emulator.limits

    async def clock(request: Request) -> Any:
        if request.method == "POST":
            body = await _parse(request, AdvanceBody)
            emulator.clock.advance(body.seconds)
        return {"now": emulator.clock.now(), "offset": emulator.clock.offset}

    async def events(request: Request) -> Response:
        return StreamingResponse(_event_stream(emulator), media_type="text/event-stream")

    routes: list[tuple[str, Handler, list[str], int]] = [
        ("/world", world, ["GET"], 200),
        ("/reset", reset, ["POST"], 200),
        ("/apps", add_app, ["POST"], 201),
        ("/apps/{client_id}/quota", set_quota, ["PUT"], 200),
        ("/users", add_user, ["POST"], 201),
        ("/conversations", add_conversation, ["POST"], 201),
        ("/conversations/{conversation_id}/messages", transcript, ["GET"], 200),
        ("/templates", add_template, ["POST"], 201),
        ("/inbound", inbound, ["POST"], 200),
        ("/messages", messages, ["GET"], 200),
        ("/messages/{message_id}", message, ["GET"], 200),
        ("/calls", calls, ["GET"], 200),
        ("/faults", faults, ["GET", "POST", "DELETE"], 200),
        ("/faults/{fault_id:int}", fault, ["DELETE"], 200),
        ("/limits", limits, ["GET", "PUT"], 200),
        ("/clock", clock, ["GET"], 200),
        ("/clock/advance", clock, ["POST"], 200),
        ("/events", events, ["GET"], 200),
        *stream_control_routes(emulator),
        *card_control_routes(emulator),
    ]
    return [
        Mount(
            PREFIX,
            routes=[
                Route(path, _endpoint(handler, status), methods=methods)
                for path, handler, methods, status in routes
            ],
        )
    ]


async def _event_stream(emulator: Emulator) -> AsyncIterator[str]:
    """Server-sent events of the bus; ``ready`` tells the reader it is subscribed."""
    with emulator.bus.subscribe() as events:
        yield "event: ready\ndata: {}\n\n"
        async for event in events:
            yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"
