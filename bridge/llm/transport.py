"""The HTTP client the model's streams go through: one pool split into shards.

Every answer holds one HTTP/1.1 connection to the model endpoint for as long as it
streams, so a bridge answering a thousand conversations has a thousand connections in
that pool. httpcore2's pool walks all of its connections whenever a request starts or a
response closes (and probes each idle one's socket), so with one pool that bookkeeping
grows with the square of the streams: at a thousand it was a fifth of the process's CPU
(``bridge bench --concurrency 1000``). ``ShardedTransport`` deals the requests round
robin over several ordinary ``httpx2.AsyncHTTPTransport`` pools of at most
``SHARD_CONNECTIONS`` connections each, so each walk covers one shard.

The shards together keep the limits asked for (connections and idle connections are
divided among them); TLS settings, proxies from the environment and timeouts are
httpx2's own, as for any client.
"""

from __future__ import annotations

import itertools
import math

import httpx2

__all__ = ["SHARD_CONNECTIONS", "ShardedTransport", "model_http_client", "shards_for"]

#: Connections per shard: walks over this many cost little next to a chunk's parsing.
SHARD_CONNECTIONS = 128


class ShardedTransport(httpx2.AsyncBaseTransport):
    """Round robin over ``shards`` connection pools that share ``limits`` between them."""

    def __init__(self, limits: httpx2.Limits, shards: int) -> None:
        if shards < 1:
            raise ValueError("shards must be ≥ 1")
        share = _share(limits, shards)
        # One TLS context for all: building one loads the CA bundle (tens of ms).
        tls = httpx2.create_ssl_context()
        self._pools = [httpx2.AsyncHTTPTransport(verify=tls, limits=share) for _ in range(shards)]
        self._turn = itertools.cycle(self._pools)

    @property
    def shards(self) -> int:
        return len(self._pools)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def _share(limits: httpx2.Limits, shards: int) -> httpx2.Limits:
    def part(total: int | None) -> int | None:
        return None if total is None else max(1, math.ceil(total / shards))

    return httpx2.Limits(
        max_connections=part(limits.max_connections),
        max_keepalive_connections=part(limits.max_keepalive_connections),
        keepalive_expiry=limits.keepalive_expiry,
    )


def shards_for(limits: httpx2.Limits) -> int:
    """Enough shards that none holds more than ``SHARD_CONNECTIONS`` connections."""
    total = limits.max_connections
    return 1 if total is None else max(1, math.ceil(total / SHARD_CONNECTIONS))


def model_http_client(limits: httpx2.Limits) -> httpx2.AsyncClient:
    """The client for the model's streams, ``limits`` over ``shards_for(limits)`` pools
    (the caller owns and closes it)."""
    transport = ShardedTransport(limits, shards_for(limits))
    # ``limits`` still applies to the transports httpx2 builds for proxies (environment).
    return httpx2.AsyncClient(transport=transport, limits=limits)
