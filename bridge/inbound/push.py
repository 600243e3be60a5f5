"""The push door: ``POST /v1/push`` and ``bridge send`` turn a target and a prompt into a Turn.

A push answers no chat message: bridge starts the conversation (proactive mode). Its
target is a string, ``user:<unionId>`` (the user's single chat with the assistant) or
``group:<openConversationId>`` (the id checked like every platform id,
``sanitize.check_id``); anything else is refused with both forms in the message: HTTP
400 from the push API, a ``ConfigError`` naming ``--to`` from ``bridge send``.

The Turn is a ``push`` Turn with the assistant's robot code, a sender only for a user
target, and the conversation key ``push:<target>``, so pushes to one place share their
history. ``PushDoor`` runs it through the pipeline's ``answer`` and reports the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bridge.delivery.relay import RelayResult
from bridge.errors import ConfigError, InboundError
from bridge.inbound.sanitize import check_id, clean_text
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn

__all__ = [
    "TARGET_FORMS",
    "PushDoor",
    "PushRequest",
    "PushTarget",
    "parse_target",
    "push_turn",
    "read_push_request",
]

TARGET_FORMS = "'user:<unionId>' or 'group:<openConversationId>'"

Answer = Callable[[Turn], Awaitable[RelayResult | None]]


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where a push goes: a user's single chat (by unionId) or a group."""

    kind: Literal["user", "group"]
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_target(to: str) -> PushTarget:
    """``user:<unionId>`` or ``group:<openConversationId>``; ValueError for anything else."""
    kind, _, target = to.partition(":")
    if kind in ("user", "group") and target:
        try:
            check_id(target)
        except ValueError as exc:
            raise ValueError(f"names an id that {exc}") from None
        return PushTarget("user" if kind == "user" else "group", target)
    raise ValueError(f"must be {TARGET_FORMS}, got {to[:100]!r}")


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A validated push: which assistant answers what, and where."""

    assistant: str
    to: PushTarget
    prompt: str


def read_push_request(body: Mapping[str, Any], assistants: Collection[str]) -> PushRequest:
    """The ``POST /v1/push`` body ``{"to", "prompt", "assistant"?}``; InboundError 400.

    ``assistant`` may be left out when only one is configured.
    """
    to = body.get("to")
    if not isinstance(to, str):
        raise InboundError(f"to must be {TARGET_FORMS}", status=400)
    try:
        target = parse_target(to)
    except ValueError as exc:
        raise InboundError(f"to {exc}", status=400) from exc
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InboundError("prompt must be a non-empty string", status=400)
    name = body.get("assistant")
    if name is None:
        if len(assistants) != 1:
            raise InboundError("assistant is required when several are configured", status=400)
        name = next(iter(assistants))
    if not isinstance(name, str) or name not in assistants:
        raise InboundError(f"no assistant named {str(name)[:100]!r}", status=400)
    return PushRequest(assistant=name, to=target, prompt=prompt.strip())


def push_turn(request: PushRequest, *, robot_code: str, received_at: float) -> Turn:
    """The Turn of a push: no message to reply to, only the target's ids and the robot."""
    target = request.to
    user = target.kind == "user"
    handles = (
        ReplyHandles(union_id=target.id, robot_code=robot_code)
        if user
        else ReplyHandles(open_conversation_id=target.id, robot_code=robot_code)
    )
    return Turn(
        assistant=request.assistant,
        source="push",
        conversation_type=ConversationType.SINGLE if user else ConversationType.GROUP,
        conversation_key=f"push:{target}",
        conversation_title="",
        sender=Sender(staff_id=None, union_id=target.id if user else None, nick=""),
        # Cleaned here too: ``bridge send`` takes its prompt from argv, not from a door.
        text=clean_text(request.prompt),
        handles=handles,
        received_at=received_at,
    )


class PushDoor:
    """Runs pushes through ``answer`` (the pipeline's), for the push API and ``bridge send``.

    ``robot_codes`` maps each assistant's name to its robot code.
    """

    def __init__(
        self,
        *,
        answer: Answer,
        robot_codes: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._answer = answer
        self._robot_codes = dict(robot_codes)
        self._clock = clock

    async def send(self, assistant: str, to: str, prompt: str) -> RelayResult | None:
        """``bridge send``: answer ``prompt`` into ``to``; None when no surface reaches it."""
        if assistant not in self._robot_codes:
            raise ConfigError(f"no assistant named {assistant!r}", key="assistants")
        try:
            target = parse_target(to)
        except ValueError as exc:
            raise ConfigError(f"--to {exc}") from exc
        return await self.run(PushRequest(assistant=assistant, to=target, prompt=prompt))

    async def push(self, request: PushRequest) -> dict[str, Any]:
        """``POST /v1/push``: run ``request``; the JSON answer says how it went.

        ``surface`` is None when no surface could reach the target; ``error`` is the
        model's failure, if any.
        """
        result = await self.run(request)
        return {
            "ok": result is not None and result.ok,
            "surface": None if result is None else result.surface,
            "text": None if result is None else result.text,
            "error": None if result is None else result.error,
        }

    async def run(self, request: PushRequest) -> RelayResult | None:
        """Answer one push now (no queue); None when no surface can reach its target."""
        robot_code = self._robot_codes[request.assistant]
        turn = push_turn(request, robot_code=robot_code, received_at=self._clock())
        return await self._answer(turn)
