"""The emulated DingTalk world: the ``Emulator`` that every handler reads and changes.

It composes the parts, each in its own module: apps and tokens (``openapi.apps``),
aiInteraction tokens (``openapi.interaction``), cards and where their callbacks go
(``openapi.cards``, ``openapi.card_routes``), robot sends (``openapi.robots``), the
media users send and their downloads (``media.library``, ``openapi.files``), faults and
rate limits (``openapi.faults``), session webhooks (``webhooks.sessions``), HTTP
callback URLs (``webhooks.poster``), the Stream gateway (``gateway.hub``), card button
presses (``webhooks.presses``), and what every part shares: people, chats and messages
(``world.transcript``), card templates (``world.content``), the clock, the call log and
the event bus. It holds no HTTP: the Starlette handlers of the subpackages translate
requests into calls on it.

Handlers look the parts up on every request, so ``reset()`` can rebuild them in place
while the server (and the simulated model, which survives a reset) keeps running.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.emulator.control.views import LimitsView, StreamSettingsView, WorldView
from bridge.emulator.errors import EmulatorError
from bridge.emulator.gateway.hub import StreamHub
from bridge.emulator.media.library import MediaLibrary
from bridge.emulator.media.messages import UserContent
from bridge.emulator.model.simulator import ModelSimulator
from bridge.emulator.openapi.apps import Apps
from bridge.emulator.openapi.card_routes import CardRoutes
from bridge.emulator.openapi.cards import Cards
from bridge.emulator.openapi.faults import Faults, RateLimiter
from bridge.emulator.openapi.files import Files
from bridge.emulator.openapi.interaction import AiInteractions
from bridge.emulator.openapi.robots import Robots
from bridge.emulator.webhooks.inbound import Inbound, typed_text
from bridge.emulator.webhooks.poster import Callbacks
from bridge.emulator.webhooks.presses import PressLog
from bridge.emulator.webhooks.sessions import Sessions
from bridge.emulator.world.bus import EventBus
from bridge.emulator.world.calllog import CallLog
from bridge.emulator.world.clock import EmulatorClock
from bridge.emulator.world.content import Template, Templates
from bridge.emulator.world.transcript import MessageState, Transcript

DEFAULT_APP = "dingbridge-dev"
DEFAULT_SECRET = "dev-secret"
DEFAULT_APP_NAME = "Bridge Dev"
"""The default app's display name: what users @-mention it by in a group."""


class Emulator:
    """A local DingTalk: state, limits, faults, call log and events."""

    def __init__(
        self,
        *,
        limits: LimitsView | None = None,
        seed: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
        stream: StreamSettingsView | None = None,
    ) -> None:
        self.bus = EventBus()
        self._monotonic = monotonic
        self.model = ModelSimulator()
        self.base_url: str | None = None
        self._seed = seed
        self._initial_limits = limits or LimitsView()
        self._initial_stream = stream or StreamSettingsView()
        self._build()

    def _build(self) -> None:
        self.clock = EmulatorClock()
        self.limits = self._initial_limits
        self.apps = Apps(self.clock, lambda: self.limits)
        self.transcript = Transcript(self.bus)
        self.templates = Templates()
        self.faults = Faults(self._seed)
        self.rate_limiter = RateLimiter(self._monotonic)
        self.calls = CallLog(self.bus)
        self.ai = AiInteractions(self.transcript, self.templates)
        self.cards = Cards(
            self.transcript, self.templates, lambda: self.limits, token_of=self.ai.latest
        )
        self.card_routes = CardRoutes()
        self.robots = Robots(self.transcript, lambda: self.limits)
        self.media = MediaLibrary(self.clock)
        self.files = Files(self.media, lambda: self.base_url)
        self.sessions = Sessions(self.transcript, self.templates, self.clock, lambda: self.limits)
        self.stream = StreamHub(
            self.apps, self.clock, self.bus, self._initial_stream, seed=self._seed
        )
        self.callbacks = Callbacks(self.bus)
        self.presses = PressLog(self.bus)

    @classmethod
    def with_defaults(
        cls,
        *,
        limits: LimitsView | None = None,
        seed: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
        stream: StreamSettingsView | None = None,
    ) -> Emulator:
        """An emulator with the default world (see ``populate_defaults``).

        ``limits`` and ``seed`` (of the fault RNG) survive ``reset``; ``monotonic`` is the
        clock of the QPS windows (real time unless a test freezes it); ``stream`` are the
        Stream gateway's initial settings (``reset`` returns to them).
        """
        emulator = cls(limits=limits, seed=seed, monotonic=monotonic, stream=stream)
        emulator.populate_defaults()
        return emulator

    def populate_defaults(self) -> None:
        """One assistant app, alice/bob/carol, a single chat, a group and a magic wand.

        Conversation ids are fixed (``cid-alice``, ``cid-group``, ``cid-wand-alice``) so a
        team's own tests and the sandbox can name them.
        """
        self.apps.register(DEFAULT_APP, DEFAULT_SECRET, "assistant", name=DEFAULT_APP_NAME)
        for user_id, nick in (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")):
            self.transcript.add_user(user_id, nick)
        self.transcript.add_conversation("single", ["alice"], "Alice", "cid-alice")
        self.transcript.add_conversation("group", ["alice", "bob", "carol"], "研发群", "cid-group")
        self.transcript.add_conversation("magic_wand", ["alice"], "魔法棒", "cid-wand-alice")

    def reset(self, *, defaults: bool = True) -> None:
        """Forget everything (clock, faults, limits, log included) and rebuild the world.

        Open Stream sockets are closed (1001): they belonged to the old world, and a client
        reconnects with a fresh ticket.
        """
        self.stream.close_all()
        self._build()
        if defaults:
            self.populate_defaults()

    def set_limits(self, limits: LimitsView) -> None:
        """Replace the platform's limits (they apply from the next request)."""
        self.limits = limits

    def register_template(
        self, template_id: str, text_variable: str, streaming_variables: list[str] | None = None
    ) -> Template:
        """Add a card template; by default only its text variable streams."""
        return self.templates.register(
            Template(template_id, text_variable, frozenset(streaming_variables or [text_variable]))
        )

    def inbound(
        self,
        user_id: str,
        conversation_id: str,
        text: str,
        *,
        client_id: str | None = None,
        base_url: str | None = None,
        mentioned: bool = True,
        content: UserContent | None = None,
    ) -> Inbound:
        """``user_id`` says ``text`` in a conversation, to an app (default: the first one).

        ``mentioned``: in a group, whether the message @-mentions the bot; if it does and
        ``text`` lacks "@<app name>", the mention is put in front (``typed_text``).
        ``content``: a message of another type than text (``media.messages``); each of
        its media gets a download code for the app's robot. DingTalk delivers no voice,
        video or file from a group (§11), so those are refused there.

        Records the user's message and issues what the platform hands the bridge: a robot
        session webhook and, for an AI assistant, a reply-mode conversation token and an
        AI session webhook.
        """
        user = self.transcript.user(user_id)
        conversation = self.transcript.conversation(conversation_id)
        if user_id not in conversation.members:
            raise EmulatorError(f"{user_id!r} is not a member of {conversation_id!r}")
        if client_id is None:
            if not self.apps.apps:
                raise EmulatorError("no app is registered")
            client_id = next(iter(self.apps.apps))
        app = self.apps.app(client_id)
        url = base_url or self.base_url
        if url is None:
            raise EmulatorError("the emulator's base URL is not known yet")
        content = content or UserContent()
        group = conversation.type == "group"
        if group and content.msgtype in ("audio", "video", "file"):
            raise EmulatorError(f"DingTalk delivers no {content.msgtype} message from a group")
        # In a group, what the user typed holds the @mention that makes DingTalk deliver it.
        text = typed_text(text, app.name, mentions_bot=group and mentioned)
        if content.msgtype == "richText" and group and mentioned:
            typed = content.shown_text("")
            if typed_text(typed, app.name, mentions_bot=True) != typed:
                content = content.mentioning(f"@{app.name}")
        message = self.transcript.post(
            conversation.id,
            sender_kind="user",
            sender_id=user.user_id,
            via="inbound",
            state=MessageState.FINISHED,
            text=content.shown_text(text),
            msgtype=content.msgtype,
            pieces=content.pieces,
        )
        robot_session = self.sessions.open("robot", app, conversation.id, user.user_id)
        ai_session = None
        token = ""
        if app.kind == "assistant":
            ai_session = self.sessions.open("ai", app, conversation.id, user.user_id)
            token = self.ai.issue(app, conversation, "reply").value
        return Inbound(
            app=app,
            conversation=conversation,
            sender=user,
            message=message,
            text=text,
            created_at_ms=self.clock.now_ms(),
            robot_session=robot_session,
            ai_session=ai_session,
            conversation_token=token,
            base_url=url,
            mentioned=mentioned,
            content=content,
            codes=tuple(
                self.media.issue(p.media_id, app.robot_code) for p in content.media if p.media_id
            ),
        )

    def world(self) -> WorldView:
        """Everything registered, for the control API."""
        return WorldView(
            apps=[a.view() for a in self.apps.apps.values()],
            users=[u.view() for u in self.transcript.users.values()],
            conversations=[c.view() for c in self.transcript.conversations.values()],
            templates=[t.view() for t in self.templates.all()],
            limits=self.limits,
            clock_offset=self.clock.offset,
        )
