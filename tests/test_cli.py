"""The `bridge` command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = Path(sys.executable).parent / "bridge"


def run_bridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    return subprocess.run(
        [str(BRIDGE), *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def test_config_check_prints_resolved_config_masked() -> None:
    """`bridge config check config.example.toml` prints the config with secrets masked."""
    result = run_bridge(
        "config",
        "check",
        str(ROOT / "config.example.toml"),
        env={
            "OPENAI_API_KEY": "sk-live-abc",
            "DINGTALK_CLIENT_SECRET": "dt-live-xyz",
            "BRIDGE_PUSH_TOKEN": "push-live",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "[pacing]" in result.stdout
    assert 'client_secret = "**********"' in result.stdout
    assert "sk-live-abc" not in result.stdout + result.stderr
    assert "dt-live-xyz" not in result.stdout + result.stderr


def test_config_check_misspelled_key_names_it(tmp_path: Path) -> None:
    """A misspelled key gives one error line naming file and key, and exit code 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[pacing]\nmin_intreval = 0.5\n", encoding="utf-8")
    result = run_bridge("config", "check", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bad}: pacing.min_intreval: unknown key")
    assert "Traceback" not in result.stderr


def test_config_check_missing_env_is_one_line() -> None:
    """Without the secrets in the environment, the error names the variable."""
    result = run_bridge("config", "check", str(ROOT / "config.example.toml"))
    assert result.returncode == 2
    assert "environment variable OPENAI_API_KEY is not set" in result.stderr
    assert "llm.api_key" in result.stderr
