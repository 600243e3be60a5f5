"""The AI card surface (``ai_card``): a card instance streamed with ``card/streaming``.

Used where aiInteraction is not available (a robot without the AI-assistant scopes, or
"permission denied"): ``createAndDeliver`` puts a card in "processing" into the group or
the single chat with the robot (one call), each update is a ``PUT /v1.0/card/streaming``
with the full markdown (``isFull: true``, required for markdown variables), and the close
is a final streaming call with ``isFinalize`` (or ``isError`` when the answer failed)
followed by the ``flowStatus`` change the card template renders (3 finished, 5 failed).
Unlike aiInteraction, a card has a real failed state. A short answer sent once is one
call: the card is created and delivered already finished, its text in its parameters.

**The stop button** (``[chat] stop_button``, a Turn from a chat, not a push): the card
is created already inputting with the button's variables on (``STOP_SHOWN``: the button
shows only once a card is inputting, §13.3), its callbacks come over Stream or, with
``[chat] card_callback_route_key``, over HTTP; every close sets them off again
(``STOP_HIDDEN``), also when a crashed process's card is recovered. What a click does
is ``bridge.stops``'s business; the card's ``outTrackId`` is in its ``handle``.

Its kind (``AI_CARD``) sits just above the class: it serves a Turn that names a robot
and a group or a staff member to deliver to, and a card a crashed process left open is
closed as failed, with the text it had.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from bridge.delivery.surface import KindedSurface, Surface, SurfaceDeps, SurfaceKind
from bridge.dingtalk.cards import STOP_HIDDEN, STOP_SHOWN, CardSpace, FlowStatus
from bridge.dingtalk.client import DingTalkClient
from bridge.errors import PlatformError, PlatformRejected
from bridge.turn import ConversationType, Turn

log = logging.getLogger(__name__)


class CardMessage:
    """One delivered card instance."""

    def __init__(
        self, client: DingTalkClient, out_track_id: str, key: str, *, stop: bool = False
    ) -> None:
        self._client = client
        self._out_track_id = out_track_id
        self._key = key
        self._stop = stop

    @property
    def handle(self) -> Mapping[str, str]:
        """What its kind's ``recover`` needs to close it after a crash (and the stop
        button's callback to find it: ``out_track_id``)."""
        handle = {"out_track_id": self._out_track_id, "key": self._key}
        return {**handle, "stop_button": "true"} if self._stop else handle

    async def update(self, text: str) -> None:
        await self._client.card_streaming(self._out_track_id, self._key, text)

    async def close(self, text: str, *, ok: bool) -> None:
        await close_card(
            self._client, self._out_track_id, self._key, text, ok=ok, hide_stop=self._stop
        )


def _serves_card(turn: Turn, now: float) -> bool:
    handles = turn.handles
    if turn.conversation_type is ConversationType.MAGIC_WAND or not handles.robot_code:
        return False
    if turn.conversation_type is ConversationType.GROUP:
        return handles.conversation_id is not None
    return handles.staff_id is not None


def _build_card(deps: SurfaceDeps, turn: Turn) -> Surface:
    handles = turn.handles
    if turn.conversation_type is ConversationType.GROUP:
        assert handles.conversation_id is not None, "built only for a Turn it serves"
        space = CardSpace.group(handles.conversation_id, handles.robot_code or deps.assistant.robot)
    else:
        assert handles.staff_id is not None, "built only for a Turn it serves"
        space = CardSpace.single(handles.staff_id)
    delivery, chat = deps.assistant.delivery, deps.assistant.chat
    return AiCardSurface(
        deps.client,
        space,
        delivery.card_template_id,
        delivery.card_template_key,
        # A push has nobody who asked: nobody may stop it.
        stop_button=chat.stop_button and not turn.proactive,
        callback_route_key=chat.card_callback_route_key,
    )


async def _recover_card(client: DingTalkClient, handle: Mapping[str, str], text: str) -> None:
    # A card has a real failed state, and an answer cut off by a crash did fail.
    hide = handle.get("stop_button") == "true"
    await close_card(client, handle["out_track_id"], handle["key"], text, ok=False, hide_stop=hide)


AI_CARD = SurfaceKind(
    name="ai_card", serves=_serves_card, build=_build_card, streams=True, recover=_recover_card
)


class AiCardSurface(KindedSurface):
    """``ai_card``: create and deliver a card, stream into its markdown variable."""

    kind = AI_CARD

    def __init__(
        self,
        client: DingTalkClient,
        space: CardSpace,
        template_id: str,
        key: str,
        *,
        stop_button: bool = False,
        callback_route_key: str | None = None,
    ) -> None:
        self._client = client
        self._space = space
        self._template_id = template_id
        self._key = key
        self._stop = stop_button
        self._route_key = callback_route_key

    async def open(self) -> CardMessage:
        if self._stop:
            # Inputting at once: "processing" has a fixed look without the button.
            params = {"flowStatus": FlowStatus.INPUTTING.value, **STOP_SHOWN}
        else:
            params = {"flowStatus": FlowStatus.PROCESSING.value}
        out_track_id = await self._deliver(params)
        return CardMessage(self._client, out_track_id, self._key, stop=self._stop)

    async def send_once(self, text: str) -> None:
        # Nothing to stream: one createAndDeliver of a finished card instead of three calls.
        await self._deliver({"flowStatus": FlowStatus.FINISHED.value, self._key: text})

    async def _deliver(self, params: dict[str, str]) -> str:
        """Create and deliver a card with ``params``; returns its outTrackId."""
        out_track_id = f"bridge-{uuid.uuid4().hex}"
        results = await self._client.card_create_and_deliver(
            out_track_id,
            self._template_id,
            self._space,
            params=params,
            callback_route_key=self._route_key,
        )
        failed = [r for r in results if not r.success]
        if not results or failed:
            reason = failed[0].error_message if failed else "no destination"
            raise PlatformRejected(
                f"card was not delivered: {reason}", operation="card.instances.createAndDeliver"
            )
        return out_track_id


async def close_card(
    client: DingTalkClient,
    out_track_id: str,
    key: str,
    text: str,
    *,
    ok: bool,
    hide_stop: bool = False,
) -> None:
    """Final text, then the flow status (and the stop button off); the status is set
    even if the text failed."""
    try:
        await client.card_streaming(out_track_id, key, text, finalize=ok, error=not ok)
    finally:
        status = FlowStatus.FINISHED if ok else FlowStatus.FAILED
        try:
            params = STOP_HIDDEN if hide_stop else None
            await client.card_update_status(out_track_id, status, params=params)
        except PlatformError as exc:
            # The streaming call above already finalized the card when it succeeded.
            log.warning("card %s: status update failed: %s", out_track_id, exc)
