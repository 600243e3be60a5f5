"""The surface interface: one way of showing a reply in DingTalk, and its kind.

A **surface** either streams (``open`` returns a ``LiveMessage`` that is updated with
the full text so far and closed once) or only sends one finished message
(``send_once``). The relay only knows this protocol, and tests use in-memory fakes of it.

A **kind** (``SurfaceKind``) is what the rest of the bridge knows about a surface before
there is one: its config name, which Turns it can serve, how to build it for a Turn, how
to close a message of it that a crashed process left open, whether it streams and
whether it can carry a continued message. Each surface module declares its kind next to
its class; ``bridge.delivery.registry`` lists them, and config validation, the router,
the factory and start-up recovery all read that list, so a new surface is one module
and one line there.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    # Annotations only: surfaces import this module, and these import the config.
    from bridge.config import AssistantConfig
    from bridge.dingtalk.client import DingTalkClient
    from bridge.turn import Turn

__all__ = ["KindedSurface", "LiveMessage", "Recover", "Surface", "SurfaceDeps", "SurfaceKind"]


class LiveMessage(Protocol):
    """A message that is open in DingTalk and must be closed exactly once."""

    @property
    def handle(self) -> Mapping[str, str] | None:
        """What its kind's ``recover`` needs to close it after a crash; None: unrecoverable.

        The journal records it when the message opens (``bridge.delivery.journal``).
        """

    async def update(self, text: str) -> None:
        """Show ``text`` (the full text so far, never a delta)."""

    async def close(self, text: str, *, ok: bool) -> None:
        """Show the final ``text`` and finish the message; ``ok=False`` marks it failed."""


class Surface(Protocol):
    """One way of delivering a reply."""

    @property
    def name(self) -> str:
        """The surface's config name (``ai_reply``, ``ai_card``…)."""

    @property
    def can_stream(self) -> bool:
        """True when ``open`` is supported; one-shot surfaces only ``send_once``."""

    @property
    def can_split(self) -> bool:
        """True when a continued message can follow the first one.

        Reply mode is False: its conversationToken drives a single message. The relay
        never splits an answer that no candidate could continue.
        """

    async def open(self) -> LiveMessage:
        """Open a message in its preparing/inputting state."""

    async def send_once(self, text: str) -> None:
        """Deliver ``text`` as one finished message."""


@dataclass(frozen=True, slots=True)
class SurfaceDeps:
    """What building a surface may use besides the Turn: the assistant's client and config."""

    client: DingTalkClient
    assistant: AssistantConfig


Recover = Callable[["DingTalkClient", Mapping[str, str], str], Awaitable[None]]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class SurfaceKind:
    """A kind of surface, as config, router, factory and recovery see it.

    - ``name``: its key in ``[delivery] prefer`` and in the journal;
    - ``serves(turn, now)``: True when the Turn carries what it needs at ``now`` (a
      handle, a webhook still valid); pure, the router calls it for every Turn;
    - ``build(deps, turn)``: the surface for a Turn it serves;
    - ``streams``: its surfaces can ``open`` a live message;
    - ``can_split``: its surfaces can carry a continued message (see ``Surface``);
    - ``recover(client, handle, text)``: close, finished with ``text``, a message a
      crashed process left open, from the ``handle`` it recorded; None when its messages
      are never left open (one-shot surfaces).
    """

    name: str
    serves: Callable[[Turn, float], bool]
    build: Callable[[SurfaceDeps, Turn], Surface]
    streams: bool
    can_split: bool = True
    recover: Recover | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"surface name {self.name!r} is not a lower_snake_case word")
        if self.recover is not None and not self.streams:
            raise ValueError(f"{self.name}: only a streaming surface leaves messages open")


class KindedSurface:
    """Base of surfaces whose ``name``, ``can_stream`` and ``can_split`` are their kind's.

    Reading them from the kind keeps one declaration per surface: the class cannot say
    it streams while its kind tells the registry it does not.
    """

    kind: ClassVar[SurfaceKind]

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def can_stream(self) -> bool:
        return self.kind.streams

    @property
    def can_split(self) -> bool:
        return self.kind.can_split


class WrappedSurface:
    """Base of surfaces that wrap another to note what it does (journal, stops, metrics).

    The inner surface's name and abilities, and its calls passed through; a subclass
    overrides the call it adds to.
    """

    def __init__(self, inner: Surface) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def can_stream(self) -> bool:
        return self._inner.can_stream

    @property
    def can_split(self) -> bool:
        return self._inner.can_split

    async def open(self) -> LiveMessage:
        return await self._inner.open()

    async def send_once(self, text: str) -> None:
        await self._inner.send_once(text)
