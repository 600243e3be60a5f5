"""The deployment files: the systemd unit verifies and runs what the CLI accepts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import ServeConfig

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "bridge.service"
BRIDGE = str(Path(sys.executable).parent / "bridge")


def unit_value(key: str) -> str:
    [value] = re.findall(rf"^{key}=(.*)$", UNIT.read_text(), flags=re.MULTILINE)
    return value


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the unit without a single warning."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing under CI=true (.ci/run installs systemd)")
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    # verify checks that ExecStart's program exists: point it at this checkout's bridge.
    unit = tmp_path / "bridge.service"
    unit.write_text(UNIT.read_text().replace("/opt/bridge/bin/bridge", BRIDGE))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_unit_starts_serve_with_options_it_knows() -> None:
    """Every option on the unit's ExecStart line is one `bridge serve` accepts."""
    command = unit_value("ExecStart").split()
    assert command[1] == "serve"
    options = [word for word in command if word.startswith("--")]
    assert options
    shown = subprocess.run(
        [BRIDGE, "serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for option in options:
        assert option in shown


def test_unit_waits_longer_than_the_grace_period() -> None:
    """systemd's stop timeout leaves the default grace period room to finish replies."""
    assert float(unit_value("TimeoutStopSec")) > ServeConfig().grace_period + 15
    assert unit_value("KillSignal") == "SIGTERM"
    assert unit_value("EnvironmentFile").startswith("/etc/bridge/")
