"""From the emulator's records of one phase to one ``Observation`` per reply (pure).

After a strategy has answered every reply, the runner reads three records from the
emulator: the messages (each bot message with all its visible changes), the model's
emissions (each chunk with the time it left) and the call log. This module joins them
per reply: the conversation (one per reply) finds its bot message, the user's message
text finds the emission (the prompt is unique), the conversation token finds the calls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bridge.bench.metrics import Observation, Visible
from bridge.bench.scenario import ReplySpec
from bridge.emulator.control.views import CallView, MessageView
from bridge.emulator.model.reply import EmissionView

__all__ = ["Sent", "calls_by_token", "emitted_times", "observations"]

_REJECTED = frozenset({403, 429})
_FINAL = frozenset({"finished", "failed"})


@dataclass(frozen=True, slots=True)
class Sent:
    """What the runner knows of one reply it asked for."""

    spec: ReplySpec
    conversation_id: str
    token: str
    user_at: float


def calls_by_token(calls: Iterable[CallView]) -> dict[str, tuple[int, int]]:
    """``token → (calls, rejected)`` for every call whose body names a conversation token."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for call in calls:
        request = call.request
        token = request.get("conversationToken") if isinstance(request, dict) else None
        if not isinstance(token, str):
            continue
        counts[token][0] += 1
        if call.status in _REJECTED:
            counts[token][1] += 1
    return {token: (n, rejected) for token, (n, rejected) in counts.items()}


def emitted_times(emission: EmissionView) -> tuple[str, tuple[float, ...]]:
    """The answer an emission carried, and for each of its characters when it left."""
    text: list[str] = []
    times: list[float] = []
    for chunk in emission.chunks:
        if chunk.field != "content":
            continue
        text.append(chunk.text)
        times.extend([chunk.at] * len(chunk.text))
    return "".join(text), tuple(times)


def _model_end(emission: EmissionView) -> float | None:
    if emission.chunks:
        return emission.chunks[-1].at
    return emission.finished_at


def observations(
    sent: Sequence[Sent],
    messages: Iterable[MessageView],
    emissions: Iterable[EmissionView],
    calls: Mapping[str, tuple[int, int]],
) -> list[Observation]:
    """One observation per reply in ``sent`` (a reply the model never saw has no text)."""
    bot: dict[str, list[MessageView]] = defaultdict(list)
    for message in messages:
        if message.sender_kind == "bot":
            bot[message.conversation_id].append(message)
    by_prompt = {emission.user: emission for emission in emissions}
    found = []
    for reply in sent:
        own = sorted(bot.get(reply.conversation_id, []), key=lambda m: m.created_at)
        changes = tuple(
            Visible(at=change.at, text=change.text, final=change.state in _FINAL)
            for message in own
            for change in message.changes
        )
        emission = by_prompt.get(reply.spec.prompt)
        answer, times = emitted_times(emission) if emission is not None else ("", ())
        n_calls, rejected = calls.get(reply.token, (0, 0))
        found.append(
            Observation(
                reply_id=reply.spec.id,
                kind=reply.spec.kind.value,
                long=reply.spec.kind.is_long,
                user_at=reply.user_at,
                answer=answer,
                emitted_at=times,
                model_end_at=_model_end(emission) if emission is not None else None,
                changes=changes,
                calls=n_calls,
                rejected=rejected,
                closed=all(m.state in _FINAL for m in own),
                delivered=bool(own),
            )
        )
    return found
