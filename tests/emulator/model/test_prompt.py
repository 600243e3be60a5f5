"""The simulated model takes image parts, records their exact bytes, and says it saw them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.model.script import ModelSpeed
from bridge.emulator.model.simulator import ModelSimulator
from bridge.emulator.server import RunningEmulator

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
COMPLETIONS = "/v1/chat/completions"


@pytest.fixture
def model(emulator: RunningEmulator) -> Iterator[ModelSimulator]:
    """The served emulator's model, reset and fast."""
    simulator = emulator.emulator.model
    simulator.reset()
    simulator.set_speed(ModelSpeed(ttft=0.0, tokens_per_second=20_000.0, chunk_chars=16))
    yield simulator
    simulator.reset()


def image(data: bytes, media_type: str = "image/png") -> dict[str, Any]:
    url = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def asking(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}


@pytest.mark.usefixtures("model")
async def test_image_parts_are_recorded_in_order_with_their_exact_bytes(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """Text, image, text, image: the record keeps the order and every byte."""
    second = b"GIF89a" + b"\x01" * 10
    body = asking(
        {"type": "text", "text": "看这个"},
        image(PNG),
        {"type": "text", "text": "和这个"},
        image(second, "image/gif"),
    )
    answer = await http.post(COMPLETIONS, json=body)
    assert answer.status_code == 200
    text = answer.json()["choices"][0]["message"]["content"]
    assert text.startswith(f"I see an image of {len(PNG)} bytes. I see an image of 16 bytes.")
    [emission] = await control.model.emissions()
    [user] = emission.prompt
    assert user.content == "看这个和这个"
    assert [p.type for p in user.parts] == ["text", "image", "text", "image"]
    assert [p.image_bytes() for p in user.images] == [PNG, second]
    assert [p.media_type for p in user.images] == ["image/png", "image/gif"]
    assert emission.user == "看这个和这个"


@pytest.mark.usefixtures("model")
@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {}},
        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}},
        {"type": "audio", "audio": {}},
    ],
)
async def test_a_malformed_part_is_a_400_as_a_real_server_says(
    http: httpx2.AsyncClient, part: dict[str, Any]
) -> None:
    """An image part without a usable data URL (or an unknown part) is refused."""
    answer = await http.post(COMPLETIONS, json=asking({"type": "text", "text": "x"}, part))
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.usefixtures("model")
async def test_plain_text_messages_are_recorded_as_before(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """A string content has no parts and no image sentence."""
    body = {"model": "m", "messages": [{"role": "user", "content": "你好"}]}
    answer = await http.post(COMPLETIONS, json=body)
    assert answer.json()["choices"][0]["message"]["content"] == "You said: 你好."
    [emission] = await control.model.emissions()
    assert emission.prompt[0].parts == []
