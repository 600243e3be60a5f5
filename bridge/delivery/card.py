"""The AI card surface (``ai_card``): a card instance streamed with ``card/streaming``.

Used where aiInteraction is not available (a robot without the AI-assistant scopes, or
"permission denied"): ``createAndDeliver`` puts a card in "processing" into the group or
the single chat with the robot (one call), each update is a ``PUT /v1.0/card/streaming``
with the full markdown (``isFull: true``, required for markdown variables), and the close
is a final streaming call with ``isFinalize`` (or ``isError`` when the answer failed)
followed by the ``flowStatus`` change the card template renders (3 finished, 5 failed).
Unlike aiInteraction, a card has a real failed state. A short answer sent once is one
call: the card is created and delivered already finished, its text in its parameters.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.wire import CardSpace, FlowStatus
from bridge.errors import PlatformError, PlatformRejected

log = logging.getLogger(__name__)


class CardMessage:
    """One delivered card instance."""

    def __init__(self, client: DingTalkClient, out_track_id: str, key: str) -> None:
        self._client = client
        self._out_track_id = out_track_id
        self._key = key

    @property
    def handle(self) -> dict[str, Any]:
        return {"out_track_id": self._out_track_id, "key": self._key}

    async def update(self, text: str) -> None:
        await self._client.card_streaming(self._out_track_id, self._key, text)

    async def close(self, text: str, *, ok: bool) -> None:
        await close_card(self._client, self._out_track_id, self._key, text, ok=ok)


class AiCardSurface:
    """``ai_card``: create and deliver a card, stream into its markdown variable."""

    name = "ai_card"
    can_stream = True

    def __init__(
        self, client: DingTalkClient, space: CardSpace, template_id: str, key: str
    ) -> None:
        self._client = client
        self._space = space
        self._template_id = template_id
        self._key = key

    async def open(self) -> CardMessage:
        out_track_id = await self._deliver({"flowStatus": FlowStatus.PROCESSING.value})
        return CardMessage(self._client, out_track_id, self._key)

    async def send_once(self, text: str) -> None:
        # Nothing to stream: one createAndDeliver of a finished card instead of three calls.
        await self._deliver({"flowStatus": FlowStatus.FINISHED.value, self._key: text})

    async def _deliver(self, params: dict[str, str]) -> str:
        """Create and deliver a card with ``params``; returns its outTrackId."""
        out_track_id = f"bridge-{uuid.uuid4().hex}"
        results = await self._client.card_create_and_deliver(
            out_track_id, self._template_id, self._space, params=params
        )
        failed = [r for r in results if not r.success]
        if not results or failed:
            reason = failed[0].error_message if failed else "no destination"
            raise PlatformRejected(
                f"card was not delivered: {reason}", operation="card.instances.createAndDeliver"
            )
        return out_track_id


async def close_card(
    client: DingTalkClient, out_track_id: str, key: str, text: str, *, ok: bool
) -> None:
    """Final text, then the flow status; the status is set even if the text failed."""
    try:
        await client.card_streaming(out_track_id, key, text, finalize=ok, error=not ok)
    finally:
        status = FlowStatus.FINISHED if ok else FlowStatus.FAILED
        try:
            await client.card_update_status(out_track_id, status)
        except PlatformError as exc:
            # The streaming call above already finalized the card when it succeeded.
            log.warning("card %s: status update failed: %s", out_track_id, exc)
