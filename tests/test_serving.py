"""Tests of bridge.serving: uvicorn inside our task group, as a guest."""

from __future__ import annotations

import logging
import signal
import socket

import anyio
import anyio.abc
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.serving import (
    AcceptErrorThrottle,
    ListenError,
    ServerLimits,
    ServerStats,
    bind,
    running_server,
)

pytestmark = pytest.mark.anyio


def test_a_taken_port_is_a_listen_error_naming_host_and_port() -> None:
    """Binding a port another socket holds raises ListenError with host:port and reason."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ListenError) as caught:
            bind("127.0.0.1", port)
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"
    assert isinstance(caught.value, OSError)


async def test_uvicorn_leaves_the_signals_to_the_command() -> None:
    """While serving, SIGINT and SIGTERM keep the handlers the process had."""
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    async with running_server(Starlette()):
        during = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    assert during == before


async def test_uvicorn_logs_through_the_process_handlers() -> None:
    """uvicorn configures no handlers of its own: its records reach the root logger's."""
    async with running_server(Starlette()):
        uvicorn_logger = logging.getLogger("uvicorn")
        assert uvicorn_logger.handlers == []
        assert uvicorn_logger.propagate


# ------------------------------------------------------------------ limits


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def refuse(request: Request) -> Response:
    return JSONResponse({"error": "no"}, status_code=401)  # without reading the body


LIMITED = Starlette(routes=[Route("/healthz", healthz), Route("/refuse", refuse, methods=["POST"])])


async def read_until_closed(stream: anyio.abc.ByteStream) -> bytes:
    received = b""
    try:
        while True:
            received += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
        return received


async def test_idle_half_sent_heads_are_closed_and_health_still_answers() -> None:
    """Hundreds of connections that never finish their head are closed after header_timeout."""
    stats = ServerStats()
    limits = ServerLimits(header_timeout=0.5, max_connections=1000)
    async with (
        running_server(LIMITED, limits=limits, stats=stats) as url,
        httpx2.AsyncClient(base_url=url) as http,
    ):
        host, port = url.removeprefix("http://").split(":")
        idle = [await anyio.connect_tcp(host, int(port)) for _ in range(300)]
        for sock in idle:
            await sock.send(b"POST /refuse HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert (await http.get("/healthz")).status_code == 200
        with anyio.fail_after(10):
            closed = [await read_until_closed(sock) for sock in idle]
        for sock in idle:
            await sock.aclose()
        assert closed == [b""] * 300  # closed without an answer: there was no request
        assert stats.timed_out >= 300
        assert (await http.get("/healthz")).status_code == 200


async def test_a_connection_past_the_limit_is_closed_at_once() -> None:
    """With max_connections open, the next connection is closed without being served."""
    stats = ServerStats()
    limits = ServerLimits(header_timeout=30, max_connections=3)
    async with running_server(LIMITED, limits=limits, stats=stats) as url:
        host, port = url.removeprefix("http://").split(":")
        held = [await anyio.connect_tcp(host, int(port)) for _ in range(3)]
        extra = await anyio.connect_tcp(host, int(port))
        await extra.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(10):
            assert await read_until_closed(extra) == b""
        assert stats.refused_connections == 1
        for sock in [*held, extra]:
            await sock.aclose()


async def test_a_body_trickling_after_the_answer_is_cut_off() -> None:
    """A client that keeps a refused request's body coming is closed after body_timeout."""
    stats = ServerStats()
    limits = ServerLimits(header_timeout=30, body_timeout=0.5)
    async with running_server(LIMITED, limits=limits, stats=stats) as url:
        host, port = url.removeprefix("http://").split(":")
        async with await anyio.connect_tcp(host, int(port)) as sock:
            await sock.send(b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            with anyio.fail_after(10):
                answer = b""
                try:
                    while True:
                        answer += await sock.receive()
                        await sock.send(b"x")  # one byte at a time, never the whole body
                        await anyio.sleep(0.05)
                except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                    pass
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert stats.timed_out == 1


def test_accept_errors_are_logged_once_per_interval() -> None:
    """Out-of-descriptor accept errors: one record per interval, the rest counted."""
    now = [0.0]
    throttle = AcceptErrorThrottle(interval=10.0, clock=lambda: now[0])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, "x", 1, message, None, None)

    passed = [throttle.filter(record("socket.accept() out of system resource")) for _ in range(5)]
    assert passed == [True, False, False, False, False]
    assert throttle.filter(record("something else")) is True
    now[0] = 11.0
    later = record("socket.accept() out of system resource")
    assert throttle.filter(later) is True
    assert "4 more like it" in later.getMessage()


async def test_a_kept_alive_connection_is_held_to_the_head_deadline_for_its_next_request() -> None:
    """After a response, the next head's deadline starts with its first byte."""
    stats = ServerStats()
    limits = ServerLimits(header_timeout=0.5, keep_alive=30)
    async with running_server(LIMITED, limits=limits, stats=stats) as url:
        host, port = url.removeprefix("http://").split(":")
        async with await anyio.connect_tcp(host, int(port)) as sock:
            await sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            with anyio.fail_after(10):
                first = await sock.receive()
            assert first.startswith(b"HTTP/1.1 200 ")
            await sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            with anyio.fail_after(10):
                assert await read_until_closed(sock) == b""
    assert stats.timed_out == 1
