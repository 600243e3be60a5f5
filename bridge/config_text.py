"""The resolved configuration printed as TOML, secrets masked (``bridge config check``).

``bridge.config`` turns a file into frozen models; this module goes the other way, for
people: every key with its resolved value, each assistant with the sections it ended up
with after the top-level ones were merged in. Secrets print as ``**********`` because
the models dump ``SecretStr`` that way (a Redis state URL's password is masked too). The
text parses back to the same configuration (with the masked secrets replaced), so a
printed config can be saved and edited.
"""

from __future__ import annotations

from typing import Any

from bridge.config import Config
from bridge.state.redis import shown_url

__all__ = ["config_to_text"]


def config_to_text(config: Config) -> str:
    """The resolved configuration as TOML-like text, secrets masked."""
    lines: list[str] = []
    data = config.model_dump(mode="json")
    # A Redis URL's password (``redis://:${REDIS_PASSWORD}@host``) is a secret too.
    data["serve"]["state"] = shown_url(data["serve"]["state"], mask="**********")
    assistants = data.pop("assistants")
    _emit(lines, data, ())
    for assistant in assistants:
        lines.append("")
        lines.append("[[assistants]]")
        nested = {k: v for k, v in assistant.items() if isinstance(v, dict)}
        flat = {k: v for k, v in assistant.items() if not isinstance(v, dict)}
        for key, value in flat.items():
            lines.append(_toml_line(key, value))
        _emit(lines, nested, ("assistants",))
    return "\n".join(lines).strip() + "\n"


def _emit(lines: list[str], table: dict[str, Any], prefix: tuple[str, ...]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) or not v}
    tables = {k: v for k, v in table.items() if isinstance(v, dict) and v}
    if prefix and scalars:
        lines.append("")
        lines.append(f"[{'.'.join(prefix)}]")
    for key, value in scalars.items():
        lines.append(_toml_line(key, value))
    for key, value in tables.items():
        _emit(lines, value, (*prefix, key))


def _toml_line(key: str, value: object) -> str:
    # TOML has no null: an unset optional key is shown commented out.
    if value is None:
        return f"# {key} = (unset)"
    return f"{key} = {_toml_value(value)}"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
