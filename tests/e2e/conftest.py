"""End-to-end fixtures: the real streaming engine against the emulator, over loopback.

One emulator per test module, served by uvicorn on 127.0.0.1 (ephemeral port) and reset
before every test, plays both DingTalk and the OpenAI-compatible model. Everything
between them is production code: the openai client on httpx2 (``LLMSource``),
``DingTalkClient``, the surfaces ``SurfaceFactory`` builds from a ``Turn``, and
``relay``. (``anyio_backend`` is redefined here with module scope, which the shared
server needs.)

The ``e2e`` fixture (an ``EndToEnd``) is what tests use::

    asked = await e2e.ask("hello")                  # a user speaks in the group chat
    text = e2e.script(prose(400))                    # the model's next answer
    result = await e2e.reply(asked.turn_for("ai_card"), ["ai_card"])
    [message] = await e2e.bot_messages()             # what the chat now shows

The lower-level fixtures (``served``, ``http``, ``control``, ``simulator``,
``make_client``, ``source``, ``assistant``) are there for tests that need only a part.
The model is fast and the pacing short (``PACING``) so the folder runs in seconds;
tests assert counts, orders and final states, never durations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import anyio
import httpx2
import pytest

from bridge.config import (
    AssistantConfig,
    DeliveryConfig,
    DingTalkConfig,
    LLMConfig,
    PacingConfig,
    RetryConfig,
)
from bridge.core.frames import normalize
from bridge.delivery.factory import SurfaceFactory
from bridge.delivery.relay import RelayResult, relay
from bridge.delivery.surface import Surface
from bridge.dingtalk.budget import RateBudget
from bridge.dingtalk.client import DingTalkClient
from bridge.dingtalk.operations import Operation
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import CallView, InboundView, MessageView
from bridge.emulator.model.script import (
    GeneratorSpec,
    ModelFault,
    ModelScript,
    SpeedUpdate,
    generate,
    parse_directives,
)
from bridge.emulator.model.simulator import MODEL_ID, ModelSimulator
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.inbound.payloads import turn_from_action, turn_from_bot_message
from bridge.llm.messages import ChatMessage
from bridge.llm.source import LLMSource, create_openai_client
from bridge.turn import Turn

#: Short waits so retries do not slow the suite down; the decisions are the same.
FAST_RETRY = RetryConfig(attempts=4, backoff_initial=0.01, backoff_max=0.05, rate_limited_wait=0.05)

NOTICE = "（回答中断，请稍后重试）"

#: The AI card template the tests create in the emulator (it knows no other).
TEMPLATE = "test-markdown.schema"

#: Small, fast pacing: a 0.3 s one-shot window, an update every 0.2 s at most.
PACING = PacingConfig(
    oneshot_window=0.3,
    min_interval=0.2,
    min_growth=1,
    max_idle=1.0,
    close_timeout=3.0,
    failure_notice=NOTICE,
)

#: The model streams 4 characters every 20 ms: 200 characters a second, no wait for
#: the first token. ``prose(400)`` is then a ~2 s answer and ``prose(60)`` a ~0.3 s one.
CHARS_PER_SECOND = 200.0
MODEL_SPEED = SpeedUpdate(ttft=0.0, tokens_per_second=CHARS_PER_SECOND, chunk_chars=4)

STREAMING: tuple[str, ...] = ("ai_reply", "ai_stepwise", "ai_card")
ONE_SHOT: tuple[str, ...] = ("ai_webhook", "robot_webhook", "robot_send")
SURFACES: tuple[str, ...] = STREAMING + ONE_SHOT

GROUP = "cid-group"

#: The calls one streamed message makes: its opening, one per update, its closing.
OPENING: dict[str, tuple[Operation, ...]] = {
    "ai_reply": (),  # reply mode has no open call: the first update shows the message
    "ai_stepwise": (Operation.AI_PREPARE,),
    "ai_card": (Operation.CARD_CREATE_AND_DELIVER,),
}
UPDATING: dict[str, Operation] = {
    "ai_reply": Operation.AI_REPLY,
    "ai_stepwise": Operation.AI_UPDATE,
    "ai_card": Operation.CARD_STREAMING,
}
CLOSING: dict[str, tuple[Operation, ...]] = {
    "ai_reply": (Operation.AI_REPLY,),
    "ai_stepwise": (Operation.AI_UPDATE, Operation.AI_FINISH),
    "ai_card": (Operation.CARD_STREAMING, Operation.CARD_UPDATE),
}
#: The one call that sends a whole answer on each surface (in a group chat).
ONE_CALL: dict[str, Operation] = {
    "ai_reply": Operation.AI_REPLY,
    "ai_stepwise": Operation.AI_SEND,
    "ai_card": Operation.CARD_CREATE_AND_DELIVER,
    "ai_webhook": Operation.AI_WEBHOOK,
    "robot_webhook": Operation.ROBOT_WEBHOOK,
    "robot_send": Operation.ROBOT_GROUP_SEND,
}
#: Every operation that shows a reply (the access token and the gateway are not).
REPLY_OPS: tuple[Operation, ...] = tuple(
    op for op in Operation if op not in (Operation.ACCESS_TOKEN, Operation.GATEWAY_OPEN)
)


def streamed_calls(surface: str, updates: int) -> list[Operation]:
    """The calls, in order, of one message streamed on ``surface`` with ``updates``."""
    return [*OPENING[surface], *[UPDATING[surface]] * updates, *CLOSING[surface]]


MakeClient = Callable[..., DingTalkClient]


def prose(length: int, *, seed: str = "streaming") -> str:
    """Deterministic English prose of exactly ``length`` characters (paragraphs included)."""
    return generate(GeneratorSpec(length=length), parse_directives(seed)).text


def assert_rejoins(parts: Sequence[str], whole: str) -> None:
    """``parts`` are consecutive slices of ``whole``, separated only by whitespace."""
    position = 0
    for part in parts:
        while position < len(whole) and whole[position].isspace():
            position += 1
        assert whole[position : position + len(part)] == part, (position, part[:40])
        position += len(part)
    assert not whole[position:].strip(), whole[position:][:40]


@dataclass(frozen=True, slots=True)
class Asked:
    """One user message as the platform handed it to bridge, as both kinds of Turn."""

    inbound: InboundView
    bot: Turn  # from the robot ChatbotMessage: robot code, conversation ids, webhook
    action: Turn  # from the AI action: conversationToken, AI sessionWebhook

    def turn_for(self, surface: str) -> Turn:
        """The Turn that carries the handle ``surface`` needs."""
        return self.action if surface in ("ai_reply", "ai_webhook") else self.bot


@dataclass
class EndToEnd:
    """A served emulator plus the production engine wired to it (see the module docstring)."""

    served: RunningEmulator
    control: EmulatorControl
    client: DingTalkClient
    source: LLMSource
    assistant: AssistantConfig
    surface_errors: list[tuple[str, Exception]] = field(default_factory=list)

    @property
    def simulator(self) -> ModelSimulator:
        """The simulated model (in process: scripts, speed and emissions are direct calls)."""
        return self.served.emulator.model

    async def ask(
        self, text: str = "hello", *, user: str = "alice", conversation: str = GROUP
    ) -> Asked:
        """``user`` writes ``text`` in ``conversation``; both Turns bridge would build."""
        inbound = await self.control.inbound(user, conversation, text)
        now = anyio.current_time()
        return Asked(
            inbound=inbound,
            bot=turn_from_bot_message(
                inbound.chatbot_message,
                assistant=self.assistant.name,
                source="stream_bot",
                received_at=now,
            ),
            action=turn_from_action(
                inbound.action,
                assistant=self.assistant.name,
                source="stream_action",
                received_at=now,
            ),
        )

    def script(self, text: str, *, fault: ModelFault | None = None) -> str:
        """Queue the model's next answer; returns the text a reply must end with."""
        self.simulator.queue(ModelScript(text=text, fault=fault))
        return normalize(text)

    def set_pace(self, chars_per_second: float) -> None:
        """Change how many characters a second the model streams (one token is one)."""
        self.simulator.set_speed(SpeedUpdate(tokens_per_second=chars_per_second))

    def surfaces(self, turn: Turn, names: Sequence[str]) -> list[Surface]:
        """The real surfaces for ``turn``, in the order given."""
        factory = SurfaceFactory(self.client, self.assistant)
        return [factory.build(turn, name) for name in names]

    async def reply(
        self,
        turn: Turn,
        names: Sequence[str],
        *,
        pacing: PacingConfig = PACING,
    ) -> RelayResult:
        """Stream the model's answer to ``turn`` through ``relay`` on the surfaces ``names``.

        Surface failures the relay reports are appended to ``surface_errors``.
        """

        def failed(surface: Surface, error: Exception) -> None:
            self.surface_errors.append((surface.name, error))

        return await relay(
            self.source.stream([ChatMessage.user(turn.text)]),
            self.surfaces(turn, names),
            pacing,
            on_surface_error=failed,
        )

    async def bot_messages(self, conversation: str = GROUP) -> list[MessageView]:
        """The bot's messages in ``conversation``, oldest first."""
        return [m for m in await self.control.transcript(conversation) if m.sender_kind == "bot"]

    async def calls(self, *operations: Operation) -> list[CallView]:
        """Logged calls of ``operations`` (all reply operations when none is given)."""
        return await self.control.calls(operations=operations or REPLY_OPS)

    async def assert_all_closed(self) -> None:
        """No message anywhere is left "preparing" or "inputting"."""
        assert await self.control.messages("preparing", "inputting") == []


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Production runs on asyncio; module scope lets one server serve a whole module."""
    return "asyncio"


@pytest.fixture(scope="module")
async def emulator_server() -> AsyncIterator[RunningEmulator]:
    """One emulator per test module (stopping uvicorn costs a noticeable fraction of a test)."""
    async with running_emulator() as running:
        yield running


@pytest.fixture
def served(emulator_server: RunningEmulator) -> Iterator[RunningEmulator]:
    """The emulator with a fresh default world (plus ``TEMPLATE``) and a fresh model."""
    emulator_server.emulator.reset()
    emulator_server.emulator.register_template(TEMPLATE, "content")
    model = emulator_server.emulator.model  # the model survives a world reset: reset it too
    model.reset()
    model.set_speed(MODEL_SPEED)
    try:
        yield emulator_server
    finally:
        model.release_stalls()


@pytest.fixture
def control(http: httpx2.AsyncClient, served: RunningEmulator) -> EmulatorControl:
    """The emulator's control API."""
    return EmulatorControl(http, served.base_url)


@pytest.fixture
def simulator(served: RunningEmulator) -> ModelSimulator:
    """The simulated model behind ``/v1/chat/completions``."""
    return served.emulator.model


@pytest.fixture
def dingtalk_config(served: RunningEmulator) -> DingTalkConfig:
    """Both DingTalk hosts pointed at the emulator, with fast retries."""
    return DingTalkConfig(
        api_base=served.base_url, oapi_base=served.base_url, timeout=5.0, retry=FAST_RETRY
    )


@pytest.fixture
def make_client(http: httpx2.AsyncClient, dingtalk_config: DingTalkConfig) -> MakeClient:
    """Build a DingTalkClient of the default app; keyword arguments override defaults."""

    def make(
        *,
        client_id: str = DEFAULT_APP,
        client_secret: str = DEFAULT_SECRET,
        config: DingTalkConfig = dingtalk_config,
        budget: RateBudget | None = None,
    ) -> DingTalkClient:
        return DingTalkClient(
            http,
            config,
            client_id=client_id,
            client_secret=client_secret,
            budget=budget or RateBudget(int(config.qps_per_api)),
        )

    return make


@pytest.fixture
def llm_config(served: RunningEmulator) -> LLMConfig:
    """The simulated model; no openai retries (a retry would consume another script)."""
    return LLMConfig(
        base_url=f"{served.base_url}/v1",
        model=MODEL_ID,
        max_retries=0,
        idle_timeout=10.0,
        deadline=50.0,
    )


@pytest.fixture
def source(http: httpx2.AsyncClient, llm_config: LLMConfig) -> LLMSource:
    """The production LLM source (openai on httpx2) against the simulated model."""
    return LLMSource(create_openai_client(llm_config, {}, http), llm_config)


@pytest.fixture
def assistant(llm_config: LLMConfig) -> AssistantConfig:
    """The default app as an assistant, with the short test pacing."""
    return AssistantConfig(
        name="dev",
        client_id=DEFAULT_APP,
        client_secret=DEFAULT_SECRET,
        llm=llm_config,
        pacing=PACING,
        delivery=DeliveryConfig(ai_template_id=TEMPLATE),
    )


@pytest.fixture
def e2e(
    served: RunningEmulator,
    control: EmulatorControl,
    make_client: MakeClient,
    source: LLMSource,
    assistant: AssistantConfig,
) -> EndToEnd:
    """The whole engine wired to the emulator (see ``EndToEnd``)."""
    return EndToEnd(
        served=served, control=control, client=make_client(), source=source, assistant=assistant
    )
