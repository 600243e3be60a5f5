"""The emulator stands alone: it imports nothing from the bridge it is a test double for."""

from __future__ import annotations

import ast
from pathlib import Path

import bridge.emulator

ROOT = Path(bridge.emulator.__file__).parent
ALLOWED = ("bridge.emulator", "bridge.serving")
"""Its own modules, and the generic uvicorn runner (no DingTalk knowledge in it)."""


def _bridge_imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [n for n in names if n == "bridge" or n.startswith("bridge.")]
    return found


def test_no_module_imports_the_product() -> None:
    """No emulator module imports a bridge package other than its own (and the runner)."""
    offending = {
        str(path.relative_to(ROOT)): name
        for path in sorted(ROOT.rglob("*.py"))
        for name in _bridge_imports(path)
        if not any(name == a or name.startswith(f"{a}.") for a in ALLOWED)
    }
    assert offending == {}


def test_no_module_mentions_the_client_package() -> None:
    """Not even a docstring points at the production DingTalk client."""
    mentions = [
        str(path.relative_to(ROOT))
        for path in sorted(ROOT.rglob("*.py"))
        if "bridge.dingtalk" in path.read_text(encoding="utf-8")
    ]
    assert mentions == []
