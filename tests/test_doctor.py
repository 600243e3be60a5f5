"""`bridge doctor`: each check against the emulator, each failure, and that nobody is messaged."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest

from bridge.config import parse_config
from bridge.dingtalk.operations import Operation
from bridge.doctor import Check, Result, diagnose, exit_code, render, template_checks
from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import FaultSpec
from bridge.emulator.server import RunningEmulator, running_emulator
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET
from bridge.errors import ExitCode

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = str(Path(sys.executable).parent / "bridge")
TEMPLATE = "doctor-markdown.schema"


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    """An emulator that knows the template the configs name."""
    async with running_emulator() as running:
        running.emulator.register_template(TEMPLATE, "content")
        yield running


@pytest.fixture
def control(http: httpx2.AsyncClient, emulator: RunningEmulator) -> EmulatorControl:
    return EmulatorControl(http, emulator.base_url)


def write_config(
    tmp_path: Path,
    base_url: str,
    *,
    secret: str = DEFAULT_SECRET,
    template: str = TEMPLATE,
    key: str = "content",
    stream: bool = True,
    model_url: str | None = None,
) -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(
        f"""
[dingtalk]
api_base = "{base_url}"
oapi_base = "{base_url}"
reply_hosts = ["{base_url.removeprefix("http://")}"]

[llm]
base_url = "{model_url or base_url + "/v1"}"
model = "emulator-model"

[delivery]
ai_template_id = "{template}"
ai_template_key = "{key}"

[serve]
stream = {str(stream).lower()}
http = false
state = ":memory:"
prompts_dir = "{ROOT / "prompts"}"

[[assistants]]
name = "dev"
client_id = "{DEFAULT_APP}"
client_secret = "{secret}"
""",
        encoding="utf-8",
    )
    return path


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_a_working_deployment_passes_every_check_and_messages_nobody(
    control: EmulatorControl, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Credentials, ticket, templates, model: all ok; no message, no open connection."""
    checks = await diagnose(write_config(tmp_path, emulator.base_url), {})
    assert [(c.name, c.result) for c in checks] == [
        ("configuration", Result.OK),
        ("dev: credentials", Result.OK),
        ("dev: stream ticket", Result.OK),
        ("dev: ai_template", Result.OK),
        ("dev: card_template", Result.OK),
        ("model emulator-model", Result.OK),
    ]
    assert exit_code(checks) is ExitCode.OK
    calls = await control.calls()
    assert {c.operation for c in calls} == {
        Operation.ACCESS_TOKEN.value,
        Operation.GATEWAY_OPEN.value,
    }
    assert await control.connections() == []
    assert await control.messages() == []


async def test_wrong_secret_fails_credentials_and_ticket(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A secret DingTalk refuses: both calls fail, saying where to copy it from; exit 3."""
    checks = by_name(await diagnose(write_config(tmp_path, emulator.base_url, secret="nope"), {}))
    credentials = checks["dev: credentials"]
    assert credentials.result is Result.FAIL
    assert "无效的clientId或者clientSecret" in credentials.details
    assert "copy the Client ID and Secret again" in credentials.details
    assert checks["dev: stream ticket"].result is Result.FAIL
    assert exit_code(list(checks.values())) is ExitCode.PLATFORM


async def test_unknown_template_fails_against_the_emulator(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A template the emulator does not know is a failure naming how to create it."""
    path = write_config(tmp_path, emulator.base_url, template="made-up.schema")
    check = by_name(await diagnose(path, {}))["dev: ai_template"]
    assert check.result is Result.FAIL
    assert "made-up.schema" in check.details
    assert "no such template" in check.details


async def test_template_that_does_not_stream_the_key_fails(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The template exists but its streaming variable is not ai_template_key."""
    path = write_config(tmp_path, emulator.base_url, key="body")
    check = by_name(await diagnose(path, {}))["dev: ai_template"]
    assert check.result is Result.FAIL
    assert "streams content, not body" in check.details


async def test_refused_stream_ticket_fails_only_the_ticket(
    control: EmulatorControl, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The gateway refusing the app (403): the ticket fails, the credentials pass."""
    await control.add_fault(
        FaultSpec(
            operation=Operation.GATEWAY_OPEN,
            status=403,
            code="Forbidden.AccessDenied.AccessTokenPermissionDenied",
            message="stream not enabled",
        )
    )
    checks = by_name(await diagnose(write_config(tmp_path, emulator.base_url), {}))
    assert checks["dev: credentials"].result is Result.OK
    ticket = checks["dev: stream ticket"]
    assert ticket.result is Result.FAIL
    assert "Stream mode" in ticket.details
    assert exit_code(list(checks.values())) is ExitCode.PLATFORM


async def test_stream_off_skips_the_ticket(emulator: RunningEmulator, tmp_path: Path) -> None:
    """HTTP callbacks only: no ticket is asked for."""
    checks = by_name(await diagnose(write_config(tmp_path, emulator.base_url, stream=False), {}))
    assert checks["dev: stream ticket"].result is Result.SKIPPED


async def test_unreachable_model_is_a_model_failure(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A model endpoint nobody listens on fails with the model's exit code, 4."""
    path = write_config(tmp_path, emulator.base_url, model_url="http://127.0.0.1:9/v1")
    checks = await diagnose(path, {}, limit=5)
    model = by_name(checks)["model emulator-model"]
    assert model.result is Result.FAIL
    assert "http://127.0.0.1:9/v1" in model.details
    assert exit_code(checks) is ExitCode.LLM


async def test_bad_configuration_is_the_only_row(tmp_path: Path) -> None:
    """A file that fails the start-up checks is reported alone, exit 2."""
    path = tmp_path / "bridge.toml"
    path.write_text('[[assistants]]\nname = "a"\nclient_id = "c"\nclient_secret = "s"\n')
    checks = await diagnose(path, {})
    [check] = checks
    assert (check.name, check.result) == ("configuration", Result.FAIL)
    assert "ai_template_id is required" in check.details
    assert exit_code(checks) is ExitCode.CONFIG


def test_templates_on_dingtalk_are_not_checkable() -> None:
    """Against DingTalk no API reads a template: said so, not faked, and not a failure."""
    text = """
[delivery]
ai_template_id = "tpl.schema"
[[assistants]]
name = "a"
client_id = "c"
client_secret = "s"
"""
    assistant = parse_config(text, {}).assistants[0]
    checks = template_checks(assistant, "https://api.dingtalk.com", None)
    assert {c.result for c in checks} == {Result.NOT_CHECKABLE}
    assert all("DingTalk has no API that reads a card template" in c.details for c in checks)
    assert exit_code(checks) is ExitCode.OK


def test_table_has_a_row_per_check_and_wraps_details() -> None:
    """Check, result, then the details wrapped under their column."""
    checks = [
        Check("configuration", Result.OK, "fine"),
        Check("dev: credentials", Result.FAIL, "word " * 40, ExitCode.PLATFORM),
    ]
    lines = render(checks, width=80).splitlines()
    assert lines[0].split() == ["check", "result", "details", "/", "what", "to", "do"]
    assert lines[2].startswith("configuration")
    assert lines[3].startswith("dev: credentials  FAIL")
    assert lines[4].startswith(" " * 20)
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1] == "1 check(s) failed"


async def test_command_prints_the_table_and_exits_with_the_failures_code(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """`bridge doctor --config FILE`: the table on stdout, exit 3 for a wrong secret."""
    path = write_config(tmp_path, emulator.base_url, secret="nope")
    result = await anyio.run_process([BRIDGE, "doctor", "--config", str(path)], check=False)
    out = result.stdout.decode()
    assert result.returncode == int(ExitCode.PLATFORM), result.stderr.decode()
    assert "dev: credentials" in out
    assert "FAIL" in out
    assert "Traceback" not in result.stderr.decode()
