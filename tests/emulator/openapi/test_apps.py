"""Access tokens and authentication (operation A, §1 and §2)."""

from __future__ import annotations

import httpx2
import pytest

from bridge.emulator.control.client import EmulatorControl
from bridge.emulator.control.views import LimitsView
from bridge.emulator.state import DEFAULT_APP, DEFAULT_SECRET

TOKEN_PATH = "/v1.0/oauth2/accessToken"
CREDENTIALS = {"appKey": DEFAULT_APP, "appSecret": DEFAULT_SECRET}
FINISH = "/v1.0/aiInteraction/finish"


async def _token(http: httpx2.AsyncClient) -> str:
    response = await http.post(TOKEN_PATH, json=CREDENTIALS)
    assert response.status_code == 200
    value: str = response.json()["accessToken"]
    return value


@pytest.mark.anyio
async def test_token_is_issued_with_its_lifetime(http: httpx2.AsyncClient) -> None:
    """A valid app key and secret get a token that lives 7200 s."""
    response = await http.post(TOKEN_PATH, json=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"accessToken", "expireIn"}
    assert body["expireIn"] == 7200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "credentials",
    [
        {"appKey": DEFAULT_APP, "appSecret": "wrong"},
        {"appKey": "nobody", "appSecret": DEFAULT_SECRET},
        {},
    ],
)
async def test_bad_credentials_are_refused(
    http: httpx2.AsyncClient, credentials: dict[str, str]
) -> None:
    """A bad secret or unknown app gets 400 invalidClientIdOrSecret with the v1.0 body."""
    response = await http.post(TOKEN_PATH, json=credentials)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"requestid", "code", "message"}
    assert body["code"] == "invalidClientIdOrSecret"


@pytest.mark.anyio
async def test_token_is_stable_while_valid_and_renewed_after_expiry(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """The same token comes back while valid; after expiry a new one, and the old one fails."""
    first = await _token(http)
    await control.advance_clock(7000)
    assert await _token(http) == first
    await control.advance_clock(7000)  # still valid: asking again extended its life
    assert await _token(http) == first
    await control.advance_clock(7201)
    second = await _token(http)
    assert second != first
    response = await http.post(
        FINISH, json={"conversationToken": "x"}, headers={"x-acs-dingtalk-access-token": first}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidAuthentication"


@pytest.mark.anyio
async def test_token_lifetime_is_configurable(
    http: httpx2.AsyncClient, control: EmulatorControl
) -> None:
    """The control API sets the lifetime reported in ``expireIn``."""
    await control.set_limits(LimitsView(access_token_lifetime=60))
    response = await http.post(TOKEN_PATH, json=CREDENTIALS)
    assert response.json()["expireIn"] == 60


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers", [{}, {"x-acs-dingtalk-access-token": "not-a-token"}], ids=["missing", "unknown"]
)
async def test_missing_or_unknown_token_is_invalid_authentication(
    http: httpx2.AsyncClient, headers: dict[str, str]
) -> None:
    """No token or an unknown one gets 400 InvalidAuthentication with lower-case keys."""
    response = await http.post(FINISH, json={"conversationToken": "x"}, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "InvalidAuthentication"
    assert set(body) == {"requestid", "code", "message"}
    assert response.headers["content-type"] == "application/json;charset=utf-8"


@pytest.mark.anyio
async def test_token_in_query_or_bearer_is_a_missing_parameter(http: httpx2.AsyncClient) -> None:
    """A token sent as ?access_token= or Bearer gets AuthenticationFailed.MissingParameter."""
    token = await _token(http)
    by_query = await http.post(FINISH, params={"access_token": token}, json={})
    by_bearer = await http.post(FINISH, headers={"Authorization": f"Bearer {token}"}, json={})
    for response in (by_query, by_bearer):
        assert response.status_code == 400
        assert response.json()["code"] == "AuthenticationFailed.MissingParameter"
