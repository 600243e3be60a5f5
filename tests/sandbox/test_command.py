"""`bridge dev` as a real process: it prints the page's URL, serves it, and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx2

BRIDGE = Path(sys.executable).parent / "bridge"


def test_dev_serves_the_page_and_stops_cleanly_on_ctrl_c() -> None:
    """`bridge dev --port 0` prints the chat page URL; SIGINT exits 130 without a traceback."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    process = subprocess.Popen(
        [str(BRIDGE), "dev", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            if line.strip().startswith("chat page"):
                url = line.split()[-1]
                break
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        page = httpx2.get(url, timeout=10)
        assert page.status_code == 200
        assert "bridge sandbox" in page.text
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "bridge dev: stopped" in stderr
