"""How one relayed reply went: ``RelayResult``, what ``bridge.delivery.relay.relay`` returns.

A frozen value the pipeline reads to journal, remember and count the reply; it lives
apart from the relay so that readers of the result need not import the relay's machinery
(``bridge.delivery.relay`` re-exports it).

Why a reply failed is typed: ``Failure`` names its ``Cause`` (the model unreachable,
timed out, refused with an HTTP status, the prompt too long, or anything else) beside the
message that was logged, and ``failure_of`` derives it from the exception the model's
stream raised. Each cause has its own notice (``[notices]``, ``notice_for``); a stop is
no failure, but ``RelayResult.cause`` says ``STOPPED`` for it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.config_chat import NoticesConfig
from bridge.core.endings import Ending
from bridge.errors import (
    LLMError,
    LLMPromptTooLong,
    LLMRateLimited,
    LLMTimeout,
    LLMUnreachable,
)

__all__ = ["Cause", "Failure", "RelayResult", "failure_of", "notice_for"]


class Cause(StrEnum):
    """Why a reply did not end with the model's complete answer."""

    UNREACHABLE = "unreachable"  # no connection to the model endpoint
    TIMEOUT = "timeout"  # idle timeout or deadline
    REFUSED = "refused"  # the endpoint answered an error status (429, 401, 500…)
    PROMPT_TOO_LONG = "prompt_too_long"  # even with half the history
    INTERRUPTED = "interrupted"  # anything else: closed mid-answer, cancelled, a bug
    STOPPED = "stopped"  # the user stopped it (not a failure)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a reply failed: its cause, the message logged, the endpoint's HTTP status."""

    cause: Cause
    message: str
    status: int | None = None


def failure_of(error: BaseException) -> Failure:
    """The ``Failure`` an exception from the model's stream stands for."""
    message = str(error) or type(error).__name__
    if isinstance(error, LLMPromptTooLong):
        return Failure(Cause.PROMPT_TOO_LONG, message, error.status)
    if isinstance(error, LLMTimeout):
        return Failure(Cause.TIMEOUT, message)
    if isinstance(error, LLMUnreachable):
        return Failure(Cause.UNREACHABLE, message)
    if isinstance(error, LLMRateLimited) or (isinstance(error, LLMError) and error.status):
        status = error.status if isinstance(error, LLMError) else None
        return Failure(Cause.REFUSED, message, status)
    return Failure(Cause.INTERRUPTED, message)


def notice_for(failure: Failure, notices: NoticesConfig | None) -> str | None:
    """The failure's own notice from ``[notices]``; None: ``[pacing] failure_notice``."""
    if notices is None:
        return None
    match failure.cause:
        case Cause.UNREACHABLE:
            return notices.unreachable
        case Cause.TIMEOUT:
            return notices.timeout
        case Cause.REFUSED:
            status = "?" if failure.status is None else str(failure.status)
            return notices.refused.format(status=status)
        case Cause.PROMPT_TOO_LONG:
            return notices.prompt_too_long
        case Cause.STOPPED:
            return notices.stopped
    return None


@dataclass(frozen=True, slots=True)
class RelayResult:
    """How one reply went.

    ``text`` is the whole reply as finally shown (before any split into continued
    messages), its mark included; ``ok`` is true when the final text was delivered and
    the model did not fail (a cut or stopped answer is ok); ``surface`` names the
    surface that showed it (``None`` if none did). The counts are calls DingTalk
    accepted. ``ending`` says how it ended; ``failure`` why it failed, if it did, and
    ``error`` the same as the message logged.
    """

    text: str
    ok: bool
    surface: str | None
    opens: int
    updates: int
    closes: int
    send_once: int
    splits: int
    error: str | None = None
    ending: Ending = Ending.COMPLETE
    failure: Failure | None = None

    @property
    def cause(self) -> Cause | None:
        """Why the answer is not the model's complete one: a failure's cause, or STOPPED."""
        if self.ending is Ending.STOPPED:
            return Cause.STOPPED
        return None if self.failure is None else self.failure.cause
