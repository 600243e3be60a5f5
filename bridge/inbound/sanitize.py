"""Untrusted input made safe where it enters: strings, ids, URLs, numbers and JSON.

Everything a door receives (a robot message, an AI action, a push body, a Stream frame)
is attacker-controlled until proven otherwise. Python is happy to hold a lone UTF-16
surrogate or a NUL in a ``str``, but SQLite, the JSON encoder, HTTP clients and log
collectors are not: one such character used to end the whole process. So the doors pass
what they receive through this module first, and nothing downstream has to care.

- ``read_json``: bytes or text → a JSON object, its size and nesting depth bounded
  **before** parsing (Python's parser recurses), numbers finite and within 64-bit range,
  every string (keys too) cleaned with ``clean_text``. Errors name where they are.
- ``clean_text`` (message text: ``\\n`` and ``\\t`` kept, line endings normalized) and
  ``clean_line`` (names, titles: one line): lone surrogates and control characters
  become U+FFFD. Valid text passes unchanged.
- ``check_id``: platform ids are 1–256 ASCII characters of ``ID_CHARS`` (tokens up to
  1024), nothing else.
- ``check_url``: a reply URL is ASCII without whitespace, controls or backslashes,
  ``https`` (``http`` only to an allow-listed loopback host), without userinfo, its host
  allow-listed, and an explicit port only if allow-listed as ``host:port``.
- ``check_epoch_ms``: a timestamp in epoch milliseconds between 2001 and 2100.

Every check raises ``ValueError`` with a reason; ``bridge.inbound.fields`` turns that
into a 400 that names the field.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

from bridge.errors import InboundError

__all__ = [
    "ID_CHARS",
    "MAX_ID_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_NAME_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_TOKEN_CHARS",
    "MAX_URL_CHARS",
    "REPLACEMENT",
    "check_epoch_ms",
    "check_id",
    "check_url",
    "clean_line",
    "clean_text",
    "json_depth_exceeds",
    "read_json",
]

REPLACEMENT = "\ufffd"
MAX_JSON_DEPTH = 32
"""Deepest nesting accepted; DingTalk's payloads are about 4 levels deep."""
MAX_ID_CHARS = 256
MAX_TOKEN_CHARS = 1024
MAX_URL_CHARS = 2048
MAX_TEXT_CHARS = 20_000
"""Longest message text or prompt, in characters."""
MAX_NAME_CHARS = 256
"""Longer sender names and conversation titles are cut (they are only shown)."""
MAX_INT = 2**63 - 1
ID_CHARS = "A-Za-z0-9 and _-+/=:$.@#~!*%"
EPOCH_MS_MIN = 1_000_000_000_000  # 2001-09-09
EPOCH_MS_MAX = 4_102_444_800_000  # 2100-01-01

# C0 controls but \t and \n, DEL, C1 controls, and the surrogate range.
_TEXT_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ID = re.compile(r"[A-Za-z0-9_\-+/=:$.@#~!*%]+")
_URL_FORBIDDEN = re.compile(r"[^\x21-\x7e]|\\")
# A JSON string (an unterminated one runs to the end: linear on any input) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def clean_text(value: str) -> str:
    """Message text: CR LF and CR become LF; other controls and lone surrogates U+FFFD."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _TEXT_UNSAFE.sub(REPLACEMENT, value)


def clean_line(value: str, *, max_chars: int = MAX_NAME_CHARS) -> str:
    """A name or title: every control character and lone surrogate becomes U+FFFD; cut."""
    return _LINE_UNSAFE.sub(REPLACEMENT, value[:max_chars])


def check_id(value: str, *, max_chars: int = MAX_ID_CHARS) -> str:
    """``value`` if it is a plausible platform id; ValueError otherwise."""
    if len(value) > max_chars:
        raise ValueError(f"is longer than {max_chars} characters")
    if not _ID.fullmatch(value):
        raise ValueError(f"must be characters of {ID_CHARS}")
    return value


def check_epoch_ms(value: float) -> float:
    """``value`` if it is a time in epoch milliseconds between 2001 and 2100."""
    if not math.isfinite(value) or not EPOCH_MS_MIN <= value <= EPOCH_MS_MAX:
        raise ValueError("must be epoch milliseconds between 2001 and 2100")
    return value


def check_url(url: str, allowed: tuple[str, ...]) -> str:
    """``url`` if bridge may POST to it; ValueError saying why not.

    ``allowed`` lists hosts (``oapi.dingtalk.com``) and ``host:port`` pairs
    (``127.0.0.1:8765``): a URL with an explicit port needs the pair.
    """
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"is longer than {MAX_URL_CHARS} characters")
    if _URL_FORBIDDEN.search(url):
        raise ValueError("may only hold printable ASCII, without spaces or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("https", "http") or not host:
        raise ValueError("must be an https URL")
    if "@" in parts.netloc:
        raise ValueError("must not carry a user name or password")
    shown = f"[{host}]" if ":" in host else host
    if parts.netloc.lower() != (shown if port is None else f"{shown}:{port}"):
        raise ValueError("has a malformed host")
    key = host if port is None else f"{host}:{port}"
    if key not in allowed:
        hint = " (a port must be allow-listed as host:port)" if port is not None else ""
        raise ValueError(f"host {key} is not on the allow-list{hint}")
    if parts.scheme.lower() == "http" and not _is_loopback(host):
        raise ValueError("must be https (plain http only to a loopback host)")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def json_depth_exceeds(text: str, limit: int) -> bool:
    """True when the JSON ``text`` nests arrays and objects deeper than ``limit``.

    Linear in the input and never recursive; brackets inside strings do not count.
    Malformed text is not judged here (the parser reports it), only its depth.
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case: too few brackets to be too deep
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth = max(0, depth - 1)
    return False


def read_json(raw: str | bytes, what: str, *, max_bytes: int | None = None) -> dict[str, Any]:
    """Parse ``raw`` as a bounded JSON object with every string cleaned; InboundError 400.

    ``max_bytes`` bounds the size (413); nesting deeper than ``MAX_JSON_DEPTH``, NaN or
    Infinity, and integers beyond 64 bits are refused before they can reach anything.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise InboundError(f"{what} is larger than {max_bytes} bytes", status=413)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InboundError(f"{what} is not valid UTF-8: {exc.reason}", status=400) from None
    if json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise InboundError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels", status=400)
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InboundError(f"{what} is not valid JSON: {exc}", status=400) from None
    if not isinstance(value, dict):
        raise InboundError(f"{what} must be a JSON object", status=400)
    try:
        cleaned: dict[str, Any] = _clean(value, "")
    except ValueError as exc:
        raise InboundError(f"{what}: {exc}", status=400) from None
    return cleaned


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _clean(value: Any, path: str) -> Any:
    """A copy of a parsed JSON value with clean strings; ValueError for a bad number."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"{path or 'value'} is out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path or 'value'} is out of range")
        return value
    if isinstance(value, list):
        return [_clean(item, f"{path}[{i}]") for i, item in enumerate(value)]
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        name = clean_text(key)
        cleaned[name] = _clean(item, f"{path}.{name}" if path else name)
    return cleaned
