"""A pydantic ``ValidationError`` of the configuration as one readable ``ConfigError``.

The message names the file and the dotted key path as the file spells it (pydantic's
union branch names dropped), suggests the keys a misspelled one may have meant, counts
the other problems, and never shows the value given for a secret.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from bridge.errors import ConfigError

__all__ = ["config_error"]


def config_error(
    exc: ValidationError, source: str, data: Mapping[str, Any], model: type[BaseModel]
) -> ConfigError:
    """The first problem of ``exc`` as one ``ConfigError`` naming ``source`` and the key.

    ``data`` is what was validated (to spell the key as the file does), ``model`` the
    model it was validated into (to suggest the keys a misspelled one may have meant).
    """
    error = exc.errors()[0]
    location = tuple(str(part) for part in error["loc"])
    key = _dotted(_readable_location(location, data))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
        close = _close_keys(location, model)
        if close:
            message += f" (did you mean {' or '.join(close)}?)"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        # Our own validators' messages, written to be read as they are.
        message = error["msg"].removeprefix("Value error, ")
    else:
        given = error.get("input")
        shown = "" if isinstance(given, dict | list) else f", got {given!r}"
        message = f"{error['msg'][0].lower()}{error['msg'][1:]}{shown}"
        if _is_secret_location(location):
            message = error["msg"]
    more = exc.error_count() - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, file=source, key=key or None)


def _readable_location(location: tuple[str, ...], data: Mapping[str, Any]) -> tuple[str, ...]:
    """Drop pydantic's union branch names (``float``, ``constrained-float``…) from a path."""
    readable: list[str] = []
    node: Any = data
    for part in location:
        if isinstance(node, dict) and part in node:
            readable.append(part)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            readable.append(part)
            node = node[int(part)]
        elif isinstance(node, dict) and readable[-1:] != [part]:
            readable.append(part)  # a missing or unknown key: keep it, it is the point
            node = None
    return tuple(readable)


def _close_keys(location: tuple[str, ...], model: type[BaseModel]) -> list[str]:
    """Valid keys that look like a misspelled one, for the error message."""
    for part in location[:-1]:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        candidates = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return []
        model = candidates[0]
    return difflib.get_close_matches(location[-1], list(model.model_fields), n=2)


def _is_secret_location(location: tuple[str, ...]) -> bool:
    return bool(location) and location[-1] in {
        "client_secret",
        "api_key",
        "push_token",
        "action_token",
        "card_callback_secret",
    }


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)
