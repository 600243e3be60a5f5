"""The emulator's endpoint table: every API served where the contract says, nothing else."""

from __future__ import annotations

import httpx2
import pytest
from starlette.routing import Route

from bridge.dingtalk.operations import ENDPOINTS as CLIENT_ENDPOINTS
from bridge.emulator.app import create_app
from bridge.emulator.openapi.endpoints import ENDPOINTS, Api, Credential, Host
from bridge.emulator.state import Emulator

# §0 of shared/dingtalk-api.md, copied by hand: the table must say the same.
CONTRACT: dict[str, tuple[str, str]] = {
    "oauth2.accessToken": ("POST", "/v1.0/oauth2/accessToken"),
    "aiInteraction.reply": ("POST", "/v1.0/aiInteraction/reply"),
    "aiInteraction.prepare": ("POST", "/v1.0/aiInteraction/prepare"),
    "aiInteraction.update": ("POST", "/v1.0/aiInteraction/update"),
    "aiInteraction.finish": ("POST", "/v1.0/aiInteraction/finish"),
    "aiInteraction.send": ("POST", "/v1.0/aiInteraction/send"),
    "robot.sendBySession": ("POST", "/robot/sendBySession"),
    "agent.send": ("POST", "/agent/send"),
    "card.streaming": ("PUT", "/v1.0/card/streaming"),
    "card.instances.create": ("POST", "/v1.0/card/instances"),
    "card.instances.update": ("PUT", "/v1.0/card/instances"),
    "card.instances.deliver": ("POST", "/v1.0/card/instances/deliver"),
    "card.instances.createAndDeliver": ("POST", "/v1.0/card/instances/createAndDeliver"),
    # §13.1: where a card's HTTP callbacks go.
    "card.callbacks.register": ("POST", "/v1.0/card/callbacks/register"),
    "robot.oToMessages.batchSend": ("POST", "/v1.0/robot/oToMessages/batchSend"),
    "robot.groupMessages.send": ("POST", "/v1.0/robot/groupMessages/send"),
    "gateway.connections.open": ("POST", "/v1.0/gateway/connections/open"),
    # §12: the download URL of a message's media.
    "robot.messageFiles.download": ("POST", "/v1.0/robot/messageFiles/download"),
}


def test_the_table_is_the_contract() -> None:
    """Every API of contract §0 (and §12) is in the table with its method and path, no other."""
    table = {api.value: (e.method, e.path) for api, e in ENDPOINTS.items()}
    assert table == CONTRACT
    assert set(ENDPOINTS) == set(Api)


def test_credentials_follow_the_contract() -> None:
    """Token calls are authenticated; A, M and the webhooks identify the caller otherwise."""
    others = {
        Api.ACCESS_TOKEN: Credential.APP_KEY,
        Api.GATEWAY_OPEN: Credential.CLIENT_ID,
        Api.ROBOT_WEBHOOK: Credential.SESSION,
        Api.AI_WEBHOOK: Credential.SESSION,
    }
    for api, endpoint in ENDPOINTS.items():
        assert endpoint.credential is others.get(api, Credential.ACCESS_TOKEN), api
        assert endpoint.authenticated is (api not in others), api
        assert (endpoint.host is Host.WEBHOOK) is (endpoint.credential is Credential.SESSION)


def test_every_api_is_routed_once_from_the_table() -> None:
    """The app has exactly one route per API, at the table's method and path."""
    routes = [r for r in create_app(Emulator()).routes if isinstance(r, Route)]
    by_name = {r.name: r for r in routes if r.name in set(Api)}
    assert set(by_name) == {api.value for api in Api}
    for api, endpoint in ENDPOINTS.items():
        route = by_name[api.value]
        assert route.path == endpoint.path
        assert route.methods is not None
        assert endpoint.method in route.methods
        assert route.methods <= {endpoint.method, "HEAD"}


def test_the_client_and_the_emulator_agree() -> None:
    """Where bridge's client table and the emulator's (written apart) share a name, they agree."""
    known = {api.value: endpoint for api, endpoint in ENDPOINTS.items()}
    shared = [operation for operation in CLIENT_ENDPOINTS if operation.value in known]
    assert shared
    for operation in shared:
        client, mine = CLIENT_ENDPOINTS[operation], known[operation.value]
        assert (client.method, client.path) == (mine.method, mine.path), operation


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1.0/aiInteraction/reply", 405),
        ("POST", "/v1.0/card/streaming", 405),
        ("POST", "/v1.0/aiInteraction/replies", 404),
        ("POST", "/v1.0/robot/sendBySession", 404),
    ],
)
async def test_a_wrong_method_or_path_is_refused(
    http: httpx2.AsyncClient, method: str, path: str, status: int
) -> None:
    """A method or path not in the table gets the 405 or 404 DingTalk would give."""
    response = await http.request(method, path, json={})
    assert response.status_code == status
