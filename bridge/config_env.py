"""``${NAME}`` references in a configuration: resolved from a mapping, all misses at once.

Secrets are never written in the TOML file; a string value holds ``${NAME}`` and the
environment variable ``NAME`` supplies it. ``resolve_env`` walks the parsed TOML, replaces
every reference from ``env`` (a mapping, so tests pass a dict) and, when some are not set,
raises one ``ConfigError`` that names every missing variable with the keys that use it, so
a new user learns in one run what to export, not one variable per run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bridge.errors import ConfigError

__all__ = ["resolve_env"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_env(raw: dict[str, Any], env: Mapping[str, str], source: str) -> dict[str, Any]:
    """``raw`` with every ``${NAME}`` replaced from ``env``; ``source`` names the file."""
    missing: dict[str, list[str]] = {}
    resolved: dict[str, Any] = _substitute(raw, env, missing, ())
    if missing:
        raise _missing_error(missing, source)
    return resolved


def _substitute(
    value: Any, env: Mapping[str, str], missing: dict[str, list[str]], path: tuple[str, ...]
) -> Any:
    """Replace every ``${NAME}`` in string values; note each unset NAME and its keys."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                missing.setdefault(name, []).append(".".join(path))
                return ""
            return env[name]

        return _ENV_REF.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _substitute(v, env, missing, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, missing, (*path, str(i))) for i, v in enumerate(value)]
    return value


def _missing_error(missing: Mapping[str, list[str]], source: str) -> ConfigError:
    """One error naming every unset variable, each with the keys that use it."""
    (name, keys), *others = missing.items()
    if not others and len(keys) == 1:
        return ConfigError(f"environment variable {name} is not set", file=source, key=keys[0])
    listed = ", ".join(f"{name} ({', '.join(keys)})" for name, keys in missing.items())
    return ConfigError(
        f"environment variables not set: {listed}; export them first (for a dry run of "
        "`bridge config check`, any non-empty values will do)",
        file=source,
    )
