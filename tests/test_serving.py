"""Tests of bridge.serving: uvicorn inside our task group, as a guest."""

from __future__ import annotations

import logging
import signal
import socket

import pytest
from starlette.applications import Starlette

from bridge.serving import ListenError, bind, running_server

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
