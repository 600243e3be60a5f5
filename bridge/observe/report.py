"""What one ``Bridge`` says about itself: liveness, readiness, and the gauges of a scrape.

``Report`` reads the running parts (pipeline counters, the store membership, the Stream
clients, each assistant's token provider, the HTTP server's counters) and never awaits:

- ``health()``: ``GET /healthz``, **liveness**. The process serves; its counters say
  what runs, waits and was refused, and ``status`` is ``degraded`` while the state
  store is unreachable. It answers 200 whatever the counters say.
- ``readiness()``: ``GET /readyz``, **readiness**: 200 when this instance can take and
  answer messages, 503 with the reasons when it cannot:

  - it is shutting down (intake stopped);
  - the state store is unreachable (the last heartbeat failed: new messages would be
    refused with 503);
  - an assistant has no valid access token (DingTalk refused the last fetch, or it
    failed, and no unexpired token is held: ``AccessTokenProvider.problem``; the
    credential watch, ``bridge.observe.credentials``, keeps trying);
  - a configured Stream connection is down (not yet connected, or lost and not back).

  A refusal after start-up never stops the process: it stays up, says why it is not
  ready, naming the assistant, and becomes ready again by itself.
- ``collect()``: the gauges and counters read at each scrape of ``/metrics`` (queue
  depth, journaled Turns, the store's counts, Stream connections, credentials, intake
  outcomes, refusals); ``Metrics.add`` registers it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from bridge.config import Config
from bridge.dingtalk.auth import AccessTokenProvider
from bridge.inbound.stream import StreamClient
from bridge.pipeline import PipelineStats
from bridge.serving import ServerStats
from bridge.startup import describe_state
from bridge.state.lease import Membership

__all__ = ["Readiness", "Report"]


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the instance can take work now; ``reasons`` say why not (empty: ready)."""

    reasons: tuple[str, ...]
    checks: Mapping[str, Any]

    @property
    def ready(self) -> bool:
        """True when nothing stands in the way."""
        return not self.reasons

    def body(self) -> dict[str, Any]:
        """The JSON of ``/readyz``."""
        status = "ready" if self.ready else "not ready"
        return {"status": status, "reasons": list(self.reasons), "checks": dict(self.checks)}


class Report:
    """Liveness, readiness and scrape-time metrics of one ``Bridge`` (module docstring)."""

    def __init__(
        self,
        *,
        config: Config,
        stats: PipelineStats,
        membership: Membership,
        streams: Mapping[str, StreamClient],
        tokens: Mapping[str, AccessTokenProvider],
        http_stats: ServerStats,
        stopping: Callable[[], bool],
    ) -> None:
        self._config = config
        self._stats = stats
        self._membership = membership
        self._streams = streams  # filled in when the doors start
        self._tokens = tokens
        self._http_stats = http_stats
        self._stopping = stopping

    def health(self) -> dict[str, Any]:
        """Liveness counters: this process's replies, and the store's as of the last beat.

        ``replies_running``: answers streaming now; ``replies_queued``: accepted Turns
        waiting for their turn; ``turns_journaled``: this process's Turns in the journal
        (queued, running or finishing); ``state``: the whole store's journal, open
        messages and instances, read at the last heartbeat (every third of the lease);
        ``refused``: connections past the limit, clients too slow with a head or body,
        oversized Stream frames, and frames that failed unforeseen (ACKed 500);
        ``unavailable``: messages refused while the store was unreachable. ``status`` is
        ``degraded`` while the last heartbeat could not reach the store (``state.error``
        says why): new messages are refused (503), replies in flight go on.
        """
        stats = self._stats
        counts = self._membership.counts
        error = self._membership.store_error
        streams = self._streams.values()
        return {
            "status": "ok" if error is None else "degraded",
            "assistants": [a.name for a in self._config.assistants],
            "replies_running": stats.running,
            "replies_queued": stats.queued,
            "turns_journaled": stats.journaled,
            "answered": stats.answered,
            "failed": stats.failed,
            "duplicates": stats.duplicates,
            "busy": stats.busy,
            "unavailable": stats.unavailable,
            "replayed": stats.replayed,
            "lost": stats.lost,
            "state": {
                "backend": describe_state(self._config.serve.state),
                "reachable": error is None,
                "error": error,
                **(
                    {}
                    if counts is None
                    else {
                        "journaled": counts.journaled,
                        "open_messages": counts.open_messages,
                        "instances": counts.instances,
                    }
                ),
            },
            "stream_connections": {n: s.stats.connections for n, s in self._streams.items()},
            # What the doors' limits turned away (README, "Limits").
            "refused": {
                "connections": self._http_stats.refused_connections,
                "late_clients": self._http_stats.timed_out,
                "oversized_frames": sum(s.stats.oversized for s in streams),
                "failed_frames": sum(s.stats.failed for s in streams),
            },
        }

    def readiness(self) -> Readiness:
        """Whether this instance can take and answer messages now (module docstring)."""
        reasons: list[str] = []
        if self._stopping():
            reasons.append("shutting down: new messages are refused")
        store_error = self._membership.store_error
        if store_error is not None:
            reasons.append(f"state store unreachable: {store_error}")
        assistants: dict[str, dict[str, str]] = {}
        for assistant in self._config.assistants:
            name = assistant.name
            problem = self._tokens[name].problem() if name in self._tokens else None
            if problem is not None:
                reasons.append(f"assistant {name}: no valid access token: {problem}")
            stream = self._stream_state(name)
            if stream not in ("connected", "off"):
                reasons.append(f"assistant {name}: Stream {stream}")
            assistants[name] = {"credentials": problem or "ok", "stream": stream}
        checks = {
            "shutting_down": self._stopping(),
            "state": store_error or "ok",
            "assistants": assistants,
        }
        return Readiness(tuple(reasons), checks)

    def _stream_state(self, name: str) -> str:
        """``connected``, ``off`` (HTTP callbacks only), or why the connection is down."""
        if not self._config.serve.stream:
            return "off"
        client = self._streams.get(name)
        if client is None:
            return "not started"
        stats = client.stats
        if stats.live:
            return "connected"
        if stats.last_error is None:
            return "not connected yet" if stats.connections == 0 else "reconnecting"
        return f"disconnected: {stats.last_error}"

    # ------------------------------------------------------------------ /metrics

    def collect(self) -> Iterator[Metric]:
        """The values read at each scrape (README, "Metrics")."""
        yield _gauge("bridge_ready", "1 while /readyz answers 200.", self.readiness().ready)
        stats = self._stats
        yield _gauge("bridge_replies_running", "Answers streaming now.", stats.running)
        yield _gauge(
            "bridge_replies_queued", "Accepted Turns waiting to be answered.", stats.queued
        )
        yield _gauge(
            "bridge_turns_journaled", "This process's Turns in the journal.", stats.journaled
        )
        intake = CounterMetricFamily(
            "bridge_messages", "Messages offered to the pipeline, by outcome.", labels=["outcome"]
        )
        for outcome, count in (
            ("accepted", stats.accepted),
            ("duplicate", stats.duplicates),
            ("busy", stats.busy),
            ("unavailable", stats.unavailable),
        ):
            intake.add_metric([outcome], count)
        yield intake
        recovered = CounterMetricFamily(
            "bridge_recovered_turns",
            "Journaled Turns adopted after a restart or a takeover: replayed, or told lost.",
            labels=["outcome"],
        )
        recovered.add_metric(["replayed"], stats.replayed)
        recovered.add_metric(["lost"], stats.lost)
        yield recovered
        yield from self._state()
        yield from self._connections()
        refused = CounterMetricFamily(
            "bridge_refused", "What the doors' limits turned away.", labels=["what"]
        )
        for what, count in self.health()["refused"].items():
            refused.add_metric([what], count)
        yield refused

    def _state(self) -> Iterator[Metric]:
        error = self._membership.store_error
        yield _gauge(
            "bridge_state_reachable",
            "1 while the state store answered the last heartbeat.",
            error is None,
        )
        counts = self._membership.counts
        if counts is None:
            return
        for name, value, meaning in (
            ("journaled_turns", counts.journaled, "Turns in the whole store's journal"),
            ("open_messages", counts.open_messages, "open messages recorded in the store"),
            ("instances", counts.instances, "bridge processes registered in the store"),
        ):
            yield _gauge(f"bridge_state_{name}", f"{meaning}, as of the last heartbeat.", value)

    def _connections(self) -> Iterator[Metric]:
        labels = ["assistant"]
        up = GaugeMetricFamily(
            "bridge_stream_up", "1 while the Stream connection is open.", labels=labels
        )
        connects = CounterMetricFamily(
            "bridge_stream_connections", "Stream connections opened.", labels=labels
        )
        reconnects = CounterMetricFamily(
            "bridge_stream_reconnects", "Stream connections opened after the first.", labels=labels
        )
        lost = CounterMetricFamily(
            "bridge_stream_failures",
            "Stream connection attempts that failed and connections that broke.",
            labels=labels,
        )
        frames = CounterMetricFamily("bridge_stream_frames", "Stream frames read.", labels=labels)
        for name, client in self._streams.items():
            s = client.stats
            up.add_metric([name], float(s.live))
            connects.add_metric([name], s.connections)
            reconnects.add_metric([name], max(0, s.connections - 1))
            lost.add_metric([name], s.lost)
            frames.add_metric([name], s.frames)
        yield from (up, connects, reconnects, lost, frames)
        valid = GaugeMetricFamily(
            "bridge_dingtalk_token_valid",
            "1 unless the assistant has no valid access token (its last fetch failed).",
            labels=labels,
        )
        fetches = CounterMetricFamily(
            "bridge_dingtalk_token_fetches", "Access token fetches started.", labels=labels
        )
        for name, tokens in self._tokens.items():
            valid.add_metric([name], float(tokens.problem() is None))
            fetches.add_metric([name], tokens.fetches)
        yield from (valid, fetches)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
