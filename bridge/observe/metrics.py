"""``Metrics``: the Prometheus instruments of one ``Bridge``, in a registry of its own.

Each ``Bridge`` owns one ``CollectorRegistry`` (never prometheus-client's global one:
the tests run several bridges in one process, and a library must not write into its
host's registry). ``Metrics`` implements the observer protocols of ``bridge.observe.hooks``;
the composition root hands ``dingtalk(assistant)``, ``model(assistant)``, the budget
observer (``Metrics`` itself) and the answer observer (``Metrics`` itself) to the modules
it builds. Gauges that are read rather than counted (queue depth, journaled Turns, Stream
connections, credentials, the store) come from a collector added with ``add``
(``bridge.observe.report``), called on each scrape.

**Calls per reply** are the DingTalk requests sent while the reply was being answered,
in its task or the tasks it started (a context variable set by ``began``): retries,
rate-limited attempts and a token refresh included, as the platform counts them.

Names follow Prometheus conventions: the ``bridge_`` prefix, ``_total`` counters,
``_seconds`` histograms in base units. Labels take bounded values only: assistant names
(from the config), surfaces, DingTalk operations, HTTP statuses, error kinds, outcomes;
never a conversation, user or message id. The README's "Metrics" table lists them all.
"""

from __future__ import annotations

from contextvars import ContextVar

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from bridge.delivery.outcome import RelayResult
from bridge.errors import (
    LLMError,
    LLMPromptTooLong,
    LLMRateLimited,
    LLMTimeout,
    PlatformAuthError,
    PlatformError,
    PlatformPermissionDenied,
    PlatformQuotaExceeded,
    PlatformRateLimited,
    PlatformRejected,
    PlatformUnavailable,
    PlatformUnreachable,
    SessionExpired,
)

__all__ = ["CONTENT_TYPE", "Metrics", "llm_error_kind", "platform_error_kind", "reply_outcome"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of ``Metrics.exposition()``: Prometheus's classic text format, which
``generate_latest`` writes and every Prometheus version reads."""

#: The DingTalk requests of the reply being answered in this context: a one-item list.
_REPLY_CALLS: ContextVar[list[int] | None] = ContextVar("bridge_reply_calls", default=None)

# Buckets, in the unit of each histogram.
_CALLS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233)
_VISIBLE = (0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 300)
_LAG = (0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89)
_WAIT = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_TOKEN = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)

_PLATFORM_KINDS: tuple[tuple[type[PlatformError], str], ...] = (
    (PlatformRateLimited, "rate_limited"),
    (PlatformUnreachable, "unreachable"),
    (PlatformUnavailable, "unavailable"),
    (PlatformAuthError, "auth"),
    (PlatformPermissionDenied, "permission_denied"),
    (PlatformQuotaExceeded, "quota_exceeded"),
    (SessionExpired, "session_expired"),
    (PlatformRejected, "rejected"),
)


def platform_error_kind(error: PlatformError) -> str:
    """The ``error`` label of a DingTalk failure: its class in a word (``rate_limited``…)."""
    return next((name for kind, name in _PLATFORM_KINDS if isinstance(error, kind)), "other")


def llm_error_kind(error: LLMError) -> str:
    """The ``kind`` label of a model failure: ``timeout``, ``rate_limited``,
    ``prompt_too_long``, ``http_4xx``/``http_5xx`` (another status), else ``connection``
    (refused, closed, or a stream that ended wrong)."""
    if isinstance(error, LLMTimeout):
        return "timeout"
    if isinstance(error, LLMRateLimited):
        return "rate_limited"
    if isinstance(error, LLMPromptTooLong):
        return "prompt_too_long"
    if error.status is not None:
        return f"http_{error.status // 100}xx"
    return "connection"


def reply_outcome(result: RelayResult | None) -> str:
    """The ``outcome`` label of a reply.

    ``delivered``: the model finished and the text reached the user; ``failed``: the
    model failed (the user got the partial text and the failure notice, as far as a
    surface took them); ``undeliverable``: the answer was complete but no surface
    delivered it; ``unanswerable``: no surface could reach the conversation at all.
    """
    if result is None:
        return "unanswerable"
    if result.ok:
        return "delivered"
    return "failed" if result.error is not None else "undeliverable"


class Metrics:
    """The instruments of one ``Bridge`` and the observers that feed them."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.replies = Counter(
            "bridge_replies",
            "Replies ended, by how (delivered, failed, undeliverable, unanswerable, error,"
            " cancelled) and the surface that showed them.",
            ["assistant", "surface", "outcome"],
            registry=registry,
        )
        self.reply_calls = Histogram(
            "bridge_reply_dingtalk_calls",
            "DingTalk requests sent for each ended reply, retries included.",
            ["assistant", "surface"],
            buckets=_CALLS,
            registry=registry,
        )
        self.first_visible = Histogram(
            "bridge_reply_first_visible_seconds",
            "From a message's receipt to the first answer text visible in DingTalk.",
            ["assistant"],
            buckets=_VISIBLE,
            registry=registry,
        )
        self.visible_lag = Histogram(
            "bridge_reply_visible_lag_seconds",
            "Per call that showed new answer text: how long the oldest of it had waited"
            " since the model produced it.",
            ["assistant"],
            buckets=_LAG,
            registry=registry,
        )
        self.open_messages = Gauge(
            "bridge_open_messages",
            "Live messages this process's replies hold open (opened, not yet closed).",
            ["assistant"],
            registry=registry,
        )
        self.dingtalk_calls = Counter(
            "bridge_dingtalk_calls",
            "Requests sent to DingTalk, retries included, by HTTP status (or timeout,"
            " transport_error when no answer came).",
            ["assistant", "operation", "status"],
            registry=registry,
        )
        self.dingtalk_errors = Counter(
            "bridge_dingtalk_errors",
            "Failed DingTalk attempts by error kind, whether retried or not.",
            ["assistant", "operation", "error"],
            registry=registry,
        )
        self.dingtalk_retries = Counter(
            "bridge_dingtalk_retries",
            "Failed DingTalk attempts the retry policy tries again, by error kind.",
            ["assistant", "operation", "error"],
            registry=registry,
        )
        self.budget_wait = Histogram(
            "bridge_dingtalk_budget_wait_seconds",
            "Time a DingTalk call waited for its slot in the shared rate budget.",
            ["operation"],
            buckets=_WAIT,
            registry=registry,
        )
        self.llm_requests = Counter(
            "bridge_llm_requests", "Chat completions requested.", ["assistant"], registry=registry
        )
        self.llm_first_token = Histogram(
            "bridge_llm_first_token_seconds",
            "From a chat completion's request to its first text (answer or reasoning).",
            ["assistant"],
            buckets=_TOKEN,
            registry=registry,
        )
        self.llm_errors = Counter(
            "bridge_llm_errors",
            "Chat completions failed, by kind.",
            ["assistant", "kind"],
            registry=registry,
        )
        self.llm_tokens = Counter(
            "bridge_llm_tokens",
            "Tokens of chat completions: prompt (in) and completion (out).",
            ["assistant", "kind"],
            registry=registry,
        )

    def add(self, collector: Collector) -> None:
        """Add a collector read at each scrape (``bridge.observe.report``)."""
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """Every metric in Prometheus's text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)

    # -------------------------------------------------------------------- observers

    def dingtalk(self, assistant: str) -> _Calls:
        """The ``CallObserver`` of ``assistant``'s DingTalk client and retry policy."""
        return _Calls(self, assistant)

    def model(self, assistant: str) -> _Model:
        """The ``ModelObserver`` of ``assistant``'s LLM source."""
        return _Model(self, assistant)

    def reply(self, assistant: str) -> _Reply:
        """``AnswerObserver``: the ``ReplyObserver`` of one new reply of ``assistant``."""
        return _Reply(self, assistant)

    def waited(self, operation: str, seconds: float) -> None:
        """``BudgetObserver``: a call waited ``seconds`` for its rate-budget slot."""
        self.budget_wait.labels(operation).observe(max(0.0, seconds))


class _Calls:
    """``CallObserver`` bound to one assistant."""

    def __init__(self, metrics: Metrics, assistant: str) -> None:
        self._metrics = metrics
        self._assistant = assistant

    def call(self, operation: str, status: str) -> None:
        self._metrics.dingtalk_calls.labels(self._assistant, operation, status).inc()
        calls = _REPLY_CALLS.get()
        if calls is not None:
            calls[0] += 1

    def failed(self, operation: str, error: PlatformError, *, retrying: bool) -> None:
        kind = platform_error_kind(error)
        self._metrics.dingtalk_errors.labels(self._assistant, operation, kind).inc()
        if retrying:
            self._metrics.dingtalk_retries.labels(self._assistant, operation, kind).inc()


class _Model:
    """``ModelObserver`` bound to one assistant."""

    def __init__(self, metrics: Metrics, assistant: str) -> None:
        self._metrics = metrics
        self._assistant = assistant

    def requested(self) -> None:
        self._metrics.llm_requests.labels(self._assistant).inc()

    def first_token(self, seconds: float) -> None:
        self._metrics.llm_first_token.labels(self._assistant).observe(max(0.0, seconds))

    def used(self, prompt_tokens: int, completion_tokens: int) -> None:
        tokens = self._metrics.llm_tokens
        tokens.labels(self._assistant, "prompt").inc(max(0, prompt_tokens))
        tokens.labels(self._assistant, "completion").inc(max(0, completion_tokens))

    def errored(self, error: LLMError) -> None:
        self._metrics.llm_errors.labels(self._assistant, llm_error_kind(error)).inc()


class _Reply:
    """``ReplyObserver`` of one reply (its bookkeeping is ``bridge.observe.watch``'s)."""

    def __init__(self, metrics: Metrics, assistant: str) -> None:
        self._metrics = metrics
        self._assistant = assistant
        self._calls = [0]

    def began(self) -> None:
        _REPLY_CALLS.set(self._calls)

    def opened(self) -> None:
        self._metrics.open_messages.labels(self._assistant).inc()

    def closed(self) -> None:
        self._metrics.open_messages.labels(self._assistant).dec()

    def first_visible(self, seconds: float) -> None:
        self._metrics.first_visible.labels(self._assistant).observe(max(0.0, seconds))

    def visible(self, lag: float) -> None:
        self._metrics.visible_lag.labels(self._assistant).observe(max(0.0, lag))

    def ended(self, result: RelayResult | None) -> None:
        surface = (result.surface if result is not None else None) or "none"
        self._metrics.replies.labels(self._assistant, surface, reply_outcome(result)).inc()
        if result is not None:
            self._metrics.reply_calls.labels(self._assistant, surface).observe(self._calls[0])
        self._leave()

    def broke(self, error: BaseException) -> None:
        cancelled = isinstance(error, anyio.get_cancelled_exc_class())
        outcome = "cancelled" if cancelled else "error"
        self._metrics.replies.labels(self._assistant, "none", outcome).inc()
        self._leave()

    def _leave(self) -> None:
        """Calls made from here on in this task (the next reply of a lane) are not ours."""
        if _REPLY_CALLS.get() is self._calls:
            _REPLY_CALLS.set(None)
