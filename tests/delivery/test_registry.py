"""The surface registry is the only list of surfaces: a kind registered here works everywhere.

The kind below (``board``: a streaming surface that writes into an in-memory board, with
a recoverable handle) is defined and registered by this module alone. No production
module names it, yet config accepts it, the router offers it, the factory builds it, the
pipeline answers on it through the relay, and ``Bridge`` start-up closes a message of it
that a crashed process left open.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import anyio
import httpx2
import pytest

from bridge.app import Bridge
from bridge.config import (
    AssistantConfig,
    DeliveryConfig,
    DingTalkConfig,
    MemoryConfig,
    parse_config,
)
from bridge.conversation.prompts import PromptSet, PromptTemplate
from bridge.core.events import End, LLMEvent, TextDelta
from bridge.delivery import registry
from bridge.delivery.factory import SurfaceFactory
from bridge.delivery.journal import JournaledSurface
from bridge.delivery.router import SurfaceHealth, candidates
from bridge.delivery.surface import Surface, SurfaceDeps, SurfaceKind
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.errors import ConfigError
from bridge.llm.messages import ChatMessage
from bridge.pipeline import AssistantRuntime, Pipeline
from bridge.state import MemoryStore
from bridge.turn import ConversationType, ReplyHandles, Sender, Turn

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
NOTICE = "（中断）"
ASSISTANT = """
[pacing]
oneshot_window = 0.0
min_interval = 0.01
min_growth = 1
failure_notice = "（中断）"

[delivery]
prefer = ["board", "ai_reply"]
ai_template_id = "tpl.schema"

[[assistants]]
name = "a"
client_id = "c"
client_secret = "s"
"""


# ---------------------------------------------------------------- the test's own surface


@dataclass
class Post:
    """One message on the board: its text so far and its state."""

    text: str = ""
    state: str = "open"  # open → finished | failed


@dataclass
class Board:
    """Where the ``board`` surface shows messages: an in-memory stand-in for a chat."""

    posts: dict[str, Post] = field(default_factory=dict)
    opened: anyio.Event = field(default_factory=anyio.Event)

    def close(self, post_id: str, text: str, *, ok: bool) -> None:
        post = self.posts[post_id]
        post.text, post.state = text, "finished" if ok else "failed"


@dataclass
class BoardMessage:
    """An open post; its handle is all that closing it after a crash needs."""

    board: Board
    post_id: str

    @property
    def handle(self) -> Mapping[str, str]:
        return {"post": self.post_id}

    async def update(self, text: str) -> None:
        self.board.posts[self.post_id].text = text

    async def close(self, text: str, *, ok: bool) -> None:
        self.board.close(self.post_id, text, ok=ok)


@dataclass
class BoardSurface:
    """Streams into a new post of ``board``."""

    board: Board
    name = "board"
    can_stream = True
    can_split = True

    async def open(self) -> BoardMessage:
        post_id = f"post-{len(self.board.posts) + 1}"
        self.board.posts[post_id] = Post()
        self.board.opened.set()
        return BoardMessage(self.board, post_id)

    async def send_once(self, text: str) -> None:
        message = await self.open()
        await message.close(text, ok=True)


def board_kind(board: Board) -> SurfaceKind:
    """The ``board`` kind: serves single chats whose handles carry a unionId."""

    def serves(turn: Turn, now: float) -> bool:
        single = turn.conversation_type is ConversationType.SINGLE
        return single and turn.handles.union_id is not None

    def build(deps: SurfaceDeps, turn: Turn) -> Surface:
        return BoardSurface(board)

    async def recover(client: DingTalkClient, handle: Mapping[str, str], text: str) -> None:
        board.close(handle["post"], text, ok=False)

    return SurfaceKind(name="board", serves=serves, build=build, streams=True, recover=recover)


@pytest.fixture
def board() -> Iterator[Board]:
    """A board, with the ``board`` kind registered for the test and taken out after."""
    board = Board()
    registry.register(board_kind(board))
    try:
        yield board
    finally:
        registry.unregister("board")


# ---------------------------------------------------------------- helpers


def turn(kind: ConversationType = ConversationType.SINGLE, **handles: str) -> Turn:
    return Turn(
        assistant="a",
        source="push",
        conversation_type=kind,
        conversation_key="c1",
        conversation_title="",
        sender=Sender(staff_id=None, union_id="u1", nick="Alice"),
        text="hi",
        handles=ReplyHandles(union_id="u1", **handles),  # type: ignore[arg-type]
        received_at=0.0,
    )


@dataclass
class Answer:
    """A model that says "Hello world", its second half only once a message is open."""

    board: Board

    def stream(self, messages: Sequence[ChatMessage]) -> object:
        @asynccontextmanager
        async def events() -> AsyncIterator[AsyncIterator[LLMEvent]]:
            async def gen() -> AsyncIterator[LLMEvent]:
                yield TextDelta("Hello ")
                await self.board.opened.wait()  # so the reply streams, whatever the timing
                yield TextDelta("world")
                yield End("stop")

            yield gen()

        return events()


@pytest.fixture
async def client(http: httpx2.AsyncClient) -> DingTalkClient:
    """A DingTalk client the board never calls (building surfaces needs one)."""
    return DingTalkClient(
        http, DingTalkConfig(), client_id="c", client_secret="s", budget=RateBudget()
    )


def assistant() -> AssistantConfig:
    return parse_config(ASSISTANT, {}).assistant("a")


# ---------------------------------------------------------------- config


def test_config_accepts_a_registered_kind(board: Board) -> None:
    """A registered kind is a valid `prefer` name, and part of the default list."""
    assert assistant().delivery.prefer == ("board", "ai_reply")
    assert DeliveryConfig().prefer == (*(kind.name for kind in registry.BUILT_IN), "board")


def test_config_refuses_an_unregistered_name() -> None:
    """Without its kind, `board` is refused, naming the key and the known surfaces."""
    with pytest.raises(ConfigError) as caught:
        parse_config(ASSISTANT, {}, source="x.toml")
    message = str(caught.value)
    assert message.startswith("x.toml: delivery.prefer: unknown surface 'board'")
    assert all(name in message for name in registry.names())


def test_registering_a_taken_name_is_refused(board: Board) -> None:
    """Two kinds cannot share a name: the second registration fails."""
    with pytest.raises(ValueError, match="registered already"):
        registry.register(board_kind(board))


def test_built_in_kinds_are_the_default_preference() -> None:
    """Reply mode first, proactive streaming next, one-shot last: the registry's order."""
    assert registry.names() == (
        "ai_reply",
        "ai_stepwise",
        "ai_card",
        "ai_webhook",
        "robot_webhook",
        "robot_send",
    )
    assert DeliveryConfig().prefer == registry.names()


def test_a_kind_must_be_well_formed(board: Board) -> None:
    """A name that is no config key, or recovery for a surface that never opens, is refused."""
    kind = board_kind(board)
    with pytest.raises(ValueError, match="lower_snake_case"):
        replace(kind, name="Board Surface")
    with pytest.raises(ValueError, match="only a streaming surface"):
        replace(kind, streams=False)


# ---------------------------------------------------------------- router, factory, relay


def test_router_offers_it_for_a_turn_it_serves(board: Board) -> None:
    """A single chat with a unionId gets `board` first; a group does not get it at all."""
    prefer = assistant().delivery.prefer
    single = turn(conversation_token="ct")
    group = turn(ConversationType.GROUP, conversation_token="ct")
    assert candidates(single, prefer, SurfaceHealth(), now=0.0) == ["board", "ai_reply"]
    assert candidates(group, prefer, SurfaceHealth(), now=0.0) == ["ai_reply"]


async def test_pipeline_answers_on_it_through_factory_and_relay(
    board: Board, client: DingTalkClient
) -> None:
    """The pipeline routes to `board`, the factory builds it, the relay streams on it."""
    config = assistant()
    factory = SurfaceFactory(client, config)
    runtime = AssistantRuntime(
        config=config,
        prompts=PromptSet(base=PromptTemplate(Path("p.md"), "I am {assistant_name}."), by_type={}),
        source=Answer(board),  # type: ignore[arg-type]
        trim=lambda system, history, user, budget: [system, *history, user],
        build_surface=factory.build,
    )
    store = MemoryStore()
    async with Pipeline(
        {"a": runtime},
        store,
        MemoryConfig(),
        max_concurrent=1,
        clock=time.time,
        today=lambda: datetime(2026, 11, 24),
    ) as pipeline:
        result = await pipeline.answer(turn())
    assert result is not None
    assert (result.surface, result.ok, result.opens, result.closes) == ("board", True, 1, 1)
    assert board.posts == {"post-1": Post("Hello world", "finished")}
    assert await store.open_messages() == []  # journaled while open, forgotten once closed


# ---------------------------------------------------------------- recovery


async def test_bridge_start_up_recovers_its_open_message(
    board: Board, client: DingTalkClient
) -> None:
    """A journaled post a crash left open is closed, failed with a notice, by Bridge start-up."""
    config = parse_config(ASSISTANT, {})
    store = MemoryStore()
    surface = SurfaceFactory(client, config.assistant("a")).build(turn(), "board")
    journaled = JournaledSurface(surface, store, assistant="a", clock=time.time)
    message = await journaled.open()
    await message.update("Hello wor")  # and then the process dies: never closed
    assert [m.surface for m in await store.open_messages()] == ["board"]

    async with Bridge(config, {}, store=store, prompts_dir=ROOT / "prompts"):
        pass  # `bridge serve` start-up, which recovers; nothing is served
    assert board.posts == {"post-1": Post(f"Hello wor\n\n{NOTICE}", "failed")}
    assert await store.open_messages() == []
