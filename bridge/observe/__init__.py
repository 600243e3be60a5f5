"""Observability: what the running service reports about itself, and to whom.

- ``hooks``: the narrow observer protocols the instrumented modules call (DingTalk
  client and retries, rate budget, relay, answerer, LLM source), each with a no-op
  default, so a module never depends on how (or whether) it is measured;
- ``metrics``: ``Metrics``, the Prometheus instruments of one ``Bridge`` in its own
  ``CollectorRegistry``, implementing those hooks;
- ``report``: ``/healthz`` (liveness and counters), ``/readyz`` (readiness with the
  reasons) and the gauges read when ``/metrics`` is scraped, from one ``Bridge``'s parts;
- ``credentials``: keeps each assistant's access token fresh, so readiness learns of
  refused credentials, and recovers, without waiting for a user's message;
- ``routes``: the three GET routes, shared by ``bridge serve``'s HTTP doors and the sandbox.

This ``__init__`` imports nothing: ``hooks`` is imported by low-level modules, and must
not drag the rest (or a cycle) in with it.
"""
