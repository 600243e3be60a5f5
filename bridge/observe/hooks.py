"""What instrumented modules tell an observer: one small protocol per seam, no-op by default.

A module that is measured takes an observer through its constructor (or, for the relay,
an argument) and calls it at the moments named here; it never imports the metrics
library, and without an observer it gets ``UNOBSERVED``, which does nothing. The real
implementation is ``bridge.observe.metrics.Metrics`` (Prometheus).

Seams and who calls them:

- ``CallObserver``: ``bridge.dingtalk.client`` after every HTTP exchange with DingTalk
  (``call``: the HTTP status, or ``timeout``/``transport_error``), and
  ``bridge.dingtalk.retry`` after every failed attempt (``failed``: the error and
  whether it will be tried again);
- ``BudgetObserver``: ``bridge.dingtalk.budget``, how long a call waited for its slot;
- ``ModelObserver``: ``bridge.llm.source``, per model request: started, first token,
  usage, error;
- ``AnswerObserver``/``ReplyObserver``: per reply, through ``bridge.observe.watch``,
  which the answerer puts around the relay's event stream and surfaces: a message
  opened or closed, answer text newly visible, and how the reply ended.

Labels are the observer's business: callers pass operations, errors and results, never
conversation or user ids, so nothing here can make a metric's label set unbounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bridge.delivery.outcome import RelayResult
    from bridge.errors import LLMError, PlatformError

__all__ = [
    "UNOBSERVED",
    "AnswerObserver",
    "BudgetObserver",
    "CallObserver",
    "ModelObserver",
    "ReplyObserver",
    "Unobserved",
]


class CallObserver(Protocol):
    """Calls of one DingTalk app (one ``DingTalkClient`` and its retry policy)."""

    def call(self, operation: str, status: str) -> None:
        """One request sent to DingTalk ended: ``status`` is the HTTP status (``"200"``,
        ``"403"``) or, without an answer, ``timeout`` or ``transport_error``. A request
        that could not connect was never sent: only ``failed`` hears of it."""

    def failed(self, operation: str, error: PlatformError, *, retrying: bool) -> None:
        """An attempt failed with ``error``; ``retrying``: the policy tries again."""


class BudgetObserver(Protocol):
    """The process-wide DingTalk rate budget."""

    def waited(self, operation: str, seconds: float) -> None:
        """A call of ``operation`` waited ``seconds`` for its slot (0 when one was free)."""


class ModelObserver(Protocol):
    """Requests to one assistant's model endpoint."""

    def requested(self) -> None:
        """A chat completion was asked for."""

    def first_token(self, seconds: float) -> None:
        """The first text (answer or reasoning) came ``seconds`` after the request."""

    def used(self, prompt_tokens: int, completion_tokens: int) -> None:
        """The answer's token counts (the endpoint's, or counted locally)."""

    def errored(self, error: LLMError) -> None:
        """The request ended with ``error``."""


class ReplyObserver(Protocol):
    """One reply: its messages, its visible text, how it ended (``bridge.observe.watch``)."""

    def began(self) -> None:
        """The reply is being answered from now on: DingTalk calls made from now in this
        task (and the tasks it starts) are this reply's, until it ends."""

    def opened(self) -> None:
        """A live message was opened (it now needs its close)."""

    def closed(self) -> None:
        """The relay let go of a live message: closed, or the close failed (the journal
        then keeps its record for recovery)."""

    def first_visible(self, seconds: float) -> None:
        """The reply's first answer text became visible ``seconds`` after its message
        was received."""

    def visible(self, lag: float) -> None:
        """A call newly showed answer text, the oldest of which had arrived from the
        model ``lag`` seconds before."""

    def ended(self, result: RelayResult | None) -> None:
        """The reply ended with ``result``; ``None``: no surface could reach the Turn."""

    def broke(self, error: BaseException) -> None:
        """An exception ended the reply (cancellation included)."""


class AnswerObserver(Protocol):
    """The answerer: one ``ReplyObserver`` per reply."""

    def reply(self, assistant: str) -> ReplyObserver:
        """The observer of a new reply of ``assistant``."""


class Unobserved:
    """Every observer protocol, doing nothing: the default of every seam."""

    def call(self, operation: str, status: str) -> None:
        pass

    def failed(self, operation: str, error: PlatformError, *, retrying: bool) -> None:
        pass

    def waited(self, operation: str, seconds: float) -> None:
        pass

    def requested(self) -> None:
        pass

    def first_token(self, seconds: float) -> None:
        pass

    def used(self, prompt_tokens: int, completion_tokens: int) -> None:
        pass

    def errored(self, error: LLMError) -> None:
        pass

    def began(self) -> None:
        pass

    def opened(self) -> None:
        pass

    def closed(self) -> None:
        pass

    def first_visible(self, seconds: float) -> None:
        pass

    def visible(self, lag: float) -> None:
        pass

    def ended(self, result: RelayResult | None) -> None:
        pass

    def broke(self, error: BaseException) -> None:
        pass

    def reply(self, assistant: str) -> Unobserved:
        return self


UNOBSERVED = Unobserved()
"""The shared no-op observer (it holds no state)."""
