"""The surface registry: the one list of delivery surfaces.

Config validation (``[delivery] prefer`` and its default), the router, the factory and
start-up recovery all read this list, and nothing else names a surface. Each surface
module declares its ``SurfaceKind`` next to its class; ``BUILT_IN`` lists them in the
default order of preference (reply mode first, proactive streaming next, one-shot last).
Adding a surface is one new module and one line in ``BUILT_IN``.

The registry is process-wide on purpose, like ``codecs``: it is a table of code, filled
when this module is imported, not runtime state, and ``bridge.config`` must find it
without being handed anything. ``register`` adds a kind at the end (a plug-in, or a
test's own surface); ``unregister`` takes one out again.
"""

from __future__ import annotations

from bridge.delivery.ai import AI_REPLY, AI_STEPWISE
from bridge.delivery.card import AI_CARD
from bridge.delivery.oneshot import AI_WEBHOOK, ROBOT_SEND, ROBOT_WEBHOOK
from bridge.delivery.surface import SurfaceKind
from bridge.errors import ConfigError

__all__ = [
    "BUILT_IN",
    "kinds",
    "lookup",
    "names",
    "register",
    "unknown_surface",
    "unregister",
]

BUILT_IN: tuple[SurfaceKind, ...] = (
    AI_REPLY,
    AI_STEPWISE,
    AI_CARD,
    AI_WEBHOOK,
    ROBOT_WEBHOOK,
    ROBOT_SEND,
)

# Insertion-ordered: iteration is registration order, which is the default preference.
_kinds: dict[str, SurfaceKind] = {}


def register(kind: SurfaceKind) -> SurfaceKind:
    """Add ``kind`` after the ones registered so far; a name is registered once."""
    if kind.name in _kinds:
        raise ValueError(f"a surface named {kind.name!r} is registered already")
    _kinds[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Take the kind called ``name`` out (tests clean up their own kinds with this)."""
    if _kinds.pop(name, None) is None:
        raise ValueError(f"no surface named {name!r} is registered")


def lookup(name: str) -> SurfaceKind:
    """The kind called ``name``; a ``ConfigError`` naming the known ones if there is none."""
    try:
        return _kinds[name]
    except KeyError:
        raise ConfigError(unknown_surface(name), key="delivery.prefer") from None


def kinds() -> tuple[SurfaceKind, ...]:
    """Every registered kind, in registration order."""
    return tuple(_kinds.values())


def names() -> tuple[str, ...]:
    """The names of every registered kind, in registration order."""
    return tuple(_kinds)


def unknown_surface(name: str) -> str:
    """The message for a name no kind has: it lists the known ones."""
    return f"unknown surface {name!r} (known: {', '.join(_kinds)})"


for _kind in BUILT_IN:
    register(_kind)
