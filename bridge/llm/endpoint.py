"""How a model endpoint is named in logs and errors: its base URL, never a credential.

A base URL may carry a user and password (``https://user:key@host/v1``) or a key in its
query (``?api-key=…``, Azure style); ``endpoint_url`` drops both, and the fragment, so the
URL can be printed in every error, warning and start-up summary.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["endpoint_url"]


def endpoint_url(base_url: str) -> str:
    """``base_url`` without user, password, query or fragment (``http://host:port/v1``)."""
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return base_url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    shown = f"[{host}]" if ":" in host else host
    netloc = f"{shown}:{port}" if port is not None else shown
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
