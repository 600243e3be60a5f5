"""`Metrics`: one registry per Bridge, conventional names, bounded labels, the observers' sums."""

from __future__ import annotations

import anyio
import pytest

from bridge.delivery.outcome import RelayResult
from bridge.errors import (
    LLMError,
    LLMPromptTooLong,
    LLMTimeout,
    PlatformAuthError,
    PlatformRateLimited,
    PlatformUnavailable,
)
from bridge.observe.metrics import Metrics, llm_error_kind, platform_error_kind, reply_outcome
from tests.observe.scrape import Scrape


def result(
    *, ok: bool = True, error: str | None = None, surface: str | None = "ai_reply"
) -> RelayResult:
    return RelayResult(
        text="hi",
        ok=ok,
        surface=surface,
        opens=1,
        updates=3,
        closes=1,
        send_once=0,
        splits=0,
        error=error,
    )


def scrape(metrics: Metrics) -> Scrape:
    return Scrape.parse(metrics.exposition().decode())


def test_each_metrics_has_its_own_registry() -> None:
    """Two Metrics never share a count: tests run several bridges in one process."""
    one, two = Metrics(), Metrics()
    one.dingtalk("dev").call("aiInteraction.update", "200")
    assert scrape(one).total("bridge_dingtalk_calls_total") == 1
    assert scrape(two).total("bridge_dingtalk_calls_total") == 0


def test_names_follow_prometheus_conventions() -> None:
    """Counters end in _total, durations in _seconds, and everything starts with bridge_."""
    metrics = Metrics()
    metrics.dingtalk("dev").call("oauth2.accessToken", "200")
    metrics.waited("oauth2.accessToken", 0.01)
    model = metrics.model("dev")
    model.requested()
    model.first_token(0.2)
    model.used(10, 5)
    model.errored(LLMTimeout("slow"))
    reply = metrics.reply("dev")
    reply.first_visible(1.0)
    reply.visible(0.5)
    reply.ended(result())
    shown = scrape(metrics)
    for name, kind in shown.types.items():
        assert name.startswith("bridge_"), name
        if kind == "histogram" and not name.endswith("_calls"):
            assert name.endswith("_seconds"), name
    counters = [name for name, kind in shown.types.items() if kind == "counter"]
    assert {f"{name}_total" for name in counters} >= {
        sample for sample in shown.names() if sample.endswith("_total")
    }
    assert "bridge_llm_tokens_total" in shown.names()


def test_dingtalk_calls_errors_and_retries_are_counted_by_operation() -> None:
    """A rate limit retried, then a success: two calls, one error, one retry."""
    metrics = Metrics()
    calls = metrics.dingtalk("dev")
    limited = PlatformRateLimited("QpsLimit", operation="aiInteraction.update", status=403)
    calls.call("aiInteraction.update", "403")
    calls.failed("aiInteraction.update", limited, retrying=True)
    calls.call("aiInteraction.update", "200")
    refused = PlatformAuthError("bad secret", operation="oauth2.accessToken", status=400)
    calls.call("oauth2.accessToken", "400")
    calls.failed("oauth2.accessToken", refused, retrying=False)
    shown = scrape(metrics)
    assert shown.by("bridge_dingtalk_calls_total", "status", operation="aiInteraction.update") == {
        "403": 1,
        "200": 1,
    }
    assert shown.by("bridge_dingtalk_errors_total", "error") == {"rate_limited": 1, "auth": 1}
    assert shown.by("bridge_dingtalk_retries_total", "error") == {"rate_limited": 1}


def test_error_kinds_are_words_from_a_closed_set() -> None:
    """Error classes map to a few words, never to a message (bounded label values)."""
    down = PlatformUnavailable("x", operation="a", status=503)
    assert platform_error_kind(down) == "unavailable"
    assert llm_error_kind(LLMPromptTooLong("x")) == "prompt_too_long"
    assert llm_error_kind(LLMError("x", status=502)) == "http_5xx"
    assert llm_error_kind(LLMError("connection refused")) == "connection"


def test_reply_outcomes() -> None:
    """Delivered, failed (the model broke), undeliverable (no surface took it), unanswerable."""
    assert reply_outcome(result()) == "delivered"
    assert reply_outcome(result(ok=False, error="boom")) == "failed"
    assert reply_outcome(result(ok=False)) == "undeliverable"
    assert reply_outcome(None) == "unanswerable"


@pytest.mark.anyio
async def test_a_reply_counts_its_outcome_calls_and_open_messages() -> None:
    """An ended reply counts once by surface and outcome, with its calls in the histogram."""
    metrics = Metrics()
    calls = metrics.dingtalk("dev")
    calls.call("oauth2.accessToken", "200")  # outside any reply: not a reply's call
    reply = metrics.reply("dev")
    reply.began()
    for _ in range(5):
        calls.call("aiInteraction.update", "200")
    reply.opened()
    assert scrape(metrics).total("bridge_open_messages", assistant="dev") == 1
    reply.closed()
    reply.ended(result())
    calls.call("aiInteraction.reply", "200")  # after the reply ended: not its call
    metrics.reply("dev").ended(None)
    metrics.reply("dev").broke(anyio.get_cancelled_exc_class()())
    shown = scrape(metrics)
    assert shown.total("bridge_open_messages") == 0
    assert shown.by("bridge_replies_total", "outcome") == {
        "delivered": 1,
        "unanswerable": 1,
        "cancelled": 1,
    }
    assert shown.total("bridge_reply_dingtalk_calls_count", surface="ai_reply") == 1
    assert shown.total("bridge_reply_dingtalk_calls_sum", surface="ai_reply") == 5


def test_model_tokens_in_and_out() -> None:
    """Usage adds prompt and completion tokens; a failure counts by kind."""
    metrics = Metrics()
    model = metrics.model("dev")
    model.requested()
    model.used(120, 30)
    model.requested()
    model.used(80, 0)
    model.errored(LLMTimeout("idle"))
    shown = scrape(metrics)
    assert shown.total("bridge_llm_requests_total", assistant="dev") == 2
    assert shown.by("bridge_llm_tokens_total", "kind") == {"prompt": 200, "completion": 30}
    assert shown.by("bridge_llm_errors_total", "kind") == {"timeout": 1}
