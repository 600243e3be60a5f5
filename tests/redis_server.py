"""A real ``redis-server`` for the tests, on a free loopback port (no fake Redis).

``redis-server`` is found on PATH (Debian's package; ``.ci/run`` installs it). Without
it the tests that need one skip with the reason, except under ``CI=true``, where they
fail: CI must run them.

``RedisServer`` starts one in a folder of its own and can stop it (SIGTERM or SIGKILL)
and start it again on the same port with the same data, for the tests of an outage.
``redis-server`` has no ``--port 0``: a free port is found by binding a socket first.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["RedisServer", "free_port", "redis_server_path"]


def redis_server_path() -> str:
    """The ``redis-server`` binary, or skip (fail under CI) with the reason."""
    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is not on PATH (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis tests must run in CI: {reason}")
        pytest.skip(f"Redis tests skipped: {reason}")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; ``persistent`` keeps data across restarts."""

    def __init__(self, folder: Path, *, persistent: bool = False) -> None:
        self.binary = redis_server_path()
        self.folder = folder
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING (10 s at most)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        if not self.persistent:
            persistence = ["--appendonly", "no", "--save", ""]
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--protected-mode",
                "yes",
                *persistence,
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()}")
            if self.ping():
                return
            time.sleep(0.02)  # start-up of a child process: nothing to wait on but the port
        raise RuntimeError(f"redis-server did not answer within 10 s: {self.log()}")

    def ping(self) -> bool:
        """True when the server answers ``PING`` with ``+PONG``."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *words: str) -> bytes:
        """Send one inline command; returns the raw reply (enough for FLUSHALL and INFO)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            return conn.recv(1 << 16)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGKILL with ``kill``, else SIGTERM) and wait for it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=30)

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
