"""The DingTalk OpenAPI client: one typed method per operation of the wire contract.

Every call goes the same way: the shared rate budget grants a slot, the access token
provider supplies a token (not for webhooks, whose URL is the credential, nor for the
token and Stream-gateway calls, whose body carries the app's credentials), the request
runs under ``DingTalkConfig.timeout``, the retry policy decides about failures, and
``faults`` maps any error answer to the error tree. An ``InvalidAuthentication`` answer
refreshes the token and tries the call once more; a rate-limit answer pauses the
operation's lane of the budget, and the retry waits there for its turn.

The client owns nothing: it is given one ``httpx2.AsyncClient`` (never closed here) and
a ``Budget`` (this process's, or the one shared on Redis), so it needs no ``async with``
and no ``aclose``. The composition root creates one client per app (client id).
Request bodies and result values live in ``wire``, ``cards`` and ``media``; nothing here touches
raw JSON beyond passing it through.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from bridge.config import DingTalkConfig
from bridge.dingtalk import cards, host, media, wire
from bridge.dingtalk.auth import AccessTokenProvider
from bridge.dingtalk.budget import Budget
from bridge.dingtalk.cards import CardSpace, DeliverResult, FlowStatus
from bridge.dingtalk.faults import is_token_error, read_answer, unavailable, unreachable
from bridge.dingtalk.operations import ENDPOINTS, Endpoint, Operation
from bridge.dingtalk.retry import RetryPolicy
from bridge.dingtalk.wire import (
    AccessToken,
    AiCard,
    At,
    BasicCard,
    RobotMessage,
    RobotSendResult,
    StreamingCard,
    StreamTicket,
    Subscription,
    Target,
)
from bridge.errors import PlatformError
from bridge.observe.hooks import UNOBSERVED, CallObserver

__all__ = ["TOKEN_HEADER", "DingTalkClient", "mask_url"]

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-acs-dingtalk-access-token"

_SECRET_QUERY = re.compile(r"((?:session|access_token)=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` with its credential query values (``session``, ``access_token``) hidden."""
    return _SECRET_QUERY.sub(r"\1***", url)


class DingTalkClient:
    """Typed calls to one DingTalk app's OpenAPI and to session webhooks.

    ``tokens`` defaults to a provider fetching through this client (pass one to share
    it), ``retry`` to ``RetryPolicy(config.retry)``; ``observer`` hears of every request.
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        config: DingTalkConfig,
        *,
        client_id: str,
        client_secret: str,
        budget: Budget,
        tokens: AccessTokenProvider | None = None,
        retry: RetryPolicy | None = None,
        observer: CallObserver = UNOBSERVED,
    ) -> None:
        self._http = http
        self._config = config
        self.client_id = client_id
        self._client_secret = client_secret
        self._budget = budget
        self.tokens = tokens or AccessTokenProvider(
            self.fetch_access_token, refresh_margin=config.token_refresh_margin
        )
        self._observer = observer
        self._retry = retry or RetryPolicy(config.retry, observer=observer)

    def __repr__(self) -> str:
        return f"DingTalkClient(client_id={self.client_id!r}, api_base={self._config.api_base!r})"

    # ------------------------------------------------------------------ access token

    async def fetch_access_token(self) -> AccessToken:
        """Ask DingTalk for an app access token (A). Callers want ``tokens.get()``."""
        body = wire.access_token_body(self.client_id, self._client_secret)
        # Every other call waits for the token: it never queues behind them.
        answer = await self._call(Operation.ACCESS_TOKEN, body, urgent=True)
        return wire.parse_access_token(answer)

    # ------------------------------------------------------------------ stream gateway (M)

    async def open_stream(self, subscriptions: Sequence[Subscription]) -> StreamTicket:
        """Ask the Stream gateway for a WebSocket endpoint and a single-use ticket (M).

        Like the token call it needs no token: the app's credentials ride in the body,
        beside bridge's ``ua`` and this machine's address (looked up in a worker thread).
        Any refusal (400, 401, 403 other than a rate limit) is a ``PlatformAuthError``.
        """
        caller = await anyio.to_thread.run_sync(host.describe)
        body = wire.gateway_open_body(
            self.client_id,
            self._client_secret,
            subscriptions,
            ua=caller.ua,
            local_ip=caller.local_ip,
        )
        answer = await self._call(Operation.GATEWAY_OPEN, body, urgent=True)
        return wire.parse_stream_ticket(answer)

    # ------------------------------------------------------------- AI assistant (B–F)

    async def reply(self, conversation_token: str, content: AiCard) -> None:
        """Reply mode (B): show ``content`` in the message of ``conversation_token``."""
        body = {"conversationToken": conversation_token, **wire.ai_content_body(content)}
        answer = await self._call(Operation.AI_REPLY, body, urgent=_finishes(content))
        wire.require_success(Operation.AI_REPLY, answer)

    async def prepare(self, target: Target, content: AiCard) -> str:
        """Open a proactive message (C) in its preparing state; returns its token."""
        body = {target.kind: target.id, **wire.ai_content_body(content)}
        return wire.parse_prepare(await self._call(Operation.AI_PREPARE, body))

    async def update(self, conversation_token: str, content: AiCard) -> None:
        """Update a prepared message (D); repeatable."""
        body = {"conversationToken": conversation_token, **wire.ai_content_body(content)}
        answer = await self._call(Operation.AI_UPDATE, body, urgent=_finishes(content))
        wire.require_success(Operation.AI_UPDATE, answer)

    async def finish(self, conversation_token: str) -> None:
        """Finish a prepared message (E)."""
        body = {"conversationToken": conversation_token}
        answer = await self._call(Operation.AI_FINISH, body, urgent=True)
        wire.require_success(Operation.AI_FINISH, answer)

    async def send(self, target: Target, content: BasicCard | AiCard) -> None:
        """Send one finished message (F); ``basic_card_schema`` is the documented type."""
        body = {target.kind: target.id, **wire.ai_content_body(content)}
        answer = await self._call(Operation.AI_SEND, body, urgent=True)
        wire.require_success(Operation.AI_SEND, answer)

    # ------------------------------------------------------------- webhooks (G, H)

    async def robot_webhook(self, url: str, message: RobotMessage, *, at: At | None = None) -> None:
        """Answer through a robot sessionWebhook (G); ``SessionExpired`` once it lapsed."""
        body = wire.robot_webhook_body(message, at)
        await self._call(Operation.ROBOT_WEBHOOK, body, url=url, urgent=True)

    async def ai_webhook(
        self,
        url: str,
        markdown: str,
        *,
        template_id: str = wire.AI_WEBHOOK_MARKDOWN_TEMPLATE,
    ) -> None:
        """Answer through an AI-assistant sessionWebhook (H) with a markdown card."""
        body = wire.ai_webhook_body(markdown, template_id=template_id)
        await self._call(Operation.AI_WEBHOOK, body, url=url, urgent=True)

    # -------------------------------------------------------------------- cards (I, J)

    async def card_create(
        self, out_track_id: str, template_id: str, *, params: Mapping[str, str] | None = None
    ) -> None:
        """Create a card instance (J1); ``params`` default to ``flowStatus`` processing."""
        body = cards.card_create_body(out_track_id, template_id, _card_params(params))
        wire.require_success(Operation.CARD_CREATE, await self._call(Operation.CARD_CREATE, body))

    async def card_deliver(self, out_track_id: str, space: CardSpace) -> tuple[DeliverResult, ...]:
        """Deliver a created card to a group or single chat (J2)."""
        body = cards.card_deliver_body(out_track_id, space)
        answer = await self._call(Operation.CARD_DELIVER, body)
        return cards.parse_deliver_results(Operation.CARD_DELIVER, answer)

    async def card_create_and_deliver(
        self,
        out_track_id: str,
        template_id: str,
        space: CardSpace,
        *,
        params: Mapping[str, str] | None = None,
        callback_route_key: str | None = None,
    ) -> tuple[DeliverResult, ...]:
        """Create and deliver a card in one call (J1 + J2); its callbacks come over
        Stream, or over HTTP to the route of ``callback_route_key`` (§13.1)."""
        body = cards.card_create_and_deliver_body(
            out_track_id,
            template_id,
            _card_params(params),
            space,
            callback_route_key=callback_route_key,
        )
        finished = _card_params(params).get("flowStatus") == FlowStatus.FINISHED.value
        answer = await self._call(Operation.CARD_CREATE_AND_DELIVER, body, urgent=finished)
        return cards.parse_deliver_results(Operation.CARD_CREATE_AND_DELIVER, answer)

    async def card_update_status(
        self,
        out_track_id: str,
        flow_status: FlowStatus,
        *,
        params: Mapping[str, str] | None = None,
    ) -> None:
        """Move a card to ``flow_status`` (J3/J4), optionally setting more parameters."""
        merged = {**(params or {}), "flowStatus": flow_status.value}
        body = cards.card_update_body(out_track_id, merged)
        final = flow_status in (FlowStatus.FINISHED, FlowStatus.FAILED)
        answer = await self._call(Operation.CARD_UPDATE, body, urgent=final)
        wire.require_success(Operation.CARD_UPDATE, answer)

    async def register_card_callback(
        self, route_key: str, url: str, *, api_secret: str | None
    ) -> str | None:
        """Send the card callbacks of ``route_key`` to ``url`` (§13.1); the URL in force."""
        body = cards.callback_register_body(route_key, url, api_secret)
        answer = await self._call(Operation.CARD_CALLBACK_REGISTER, body)
        return cards.parse_callback_url(answer)

    async def card_streaming(
        self,
        out_track_id: str,
        key: str,
        content: str,
        *,
        finalize: bool = False,
        error: bool = False,
        guid: str | None = None,
    ) -> None:
        """Show ``content`` (the full text) in the card variable ``key`` (I).

        ``guid`` is DingTalk's idempotency key; a fresh one is made per call, and a retry
        of the same call reuses it.
        """
        body = cards.card_streaming_body(
            out_track_id,
            guid or uuid.uuid4().hex,
            key,
            content,
            finalize=finalize,
            error=error,
        )
        answer = await self._call(Operation.CARD_STREAMING, body, urgent=finalize or error)
        wire.require_success(Operation.CARD_STREAMING, answer)

    # ------------------------------------------------------------------ robot (K, L)

    async def robot_group_send(
        self, open_conversation_id: str, message: RobotMessage, *, robot_code: str | None = None
    ) -> RobotSendResult:
        """Send a robot message to a group (L); the robot code defaults to the client id."""
        body = wire.robot_group_send_body(
            robot_code or self.client_id, open_conversation_id, message
        )
        answer = await self._call(Operation.ROBOT_GROUP_SEND, body, urgent=True)
        return wire.parse_robot_send(Operation.ROBOT_GROUP_SEND, answer)

    async def robot_oto_send(
        self,
        user_ids: tuple[str, ...],
        message: RobotMessage,
        *,
        robot_code: str | None = None,
    ) -> RobotSendResult:
        """Send a robot message to up to 20 users' single chats (K)."""
        body = wire.robot_oto_send_body(robot_code or self.client_id, user_ids, message)
        answer = await self._call(Operation.ROBOT_OTO_SEND, body, urgent=True)
        return wire.parse_robot_send(Operation.ROBOT_OTO_SEND, answer)

    # ------------------------------------------------------------- message files (§12)

    async def message_file_url(self, download_code: str, *, robot_code: str | None = None) -> str:
        """The temporary URL of a message's picture or file (``bridge.dingtalk.media``)."""
        body = media.download_body(download_code, robot_code or self.client_id)
        answer = await self._call(Operation.ROBOT_FILE_DOWNLOAD, body)
        return media.parse_download_url(answer)

    # -------------------------------------------------------------------- machinery

    async def _call(
        self,
        operation: Operation,
        body: dict[str, Any],
        *,
        url: str | None = None,
        urgent: bool = False,
    ) -> Any:
        """Run one operation through token, retry policy and one token refresh.

        A rate-limit answer pauses the operation's lane of the rate budget for the
        server's hint (or ``rate_limited_wait``); how long the call keeps trying is the
        retry policy's decision (a reply's delivery deadline, ``bridge.dingtalk.deadline``).
        ``urgent`` calls (those that finish a message or deliver one whole) go ahead of
        intermediate updates in the rate budget: under load an update can wait, a close
        cannot.
        """
        endpoint = ENDPOINTS[operation]
        target = url if url is not None else self._url(endpoint)
        # A rate-limit answer holds the whole lane, so its callers wait it out
        # together, in order, instead of each retrying into the same limit.
        back_off = partial(self._budget.back_off, self.client_id, operation)

        async def run(token: str | None) -> Any:
            return await self._retry.run(
                operation,
                lambda: self._attempt(operation, endpoint, target, body, token, urgent),
                back_off=back_off,
            )

        if not endpoint.authenticated:
            return await run(None)
        token = await self.tokens.get()
        try:
            return await run(token)
        except PlatformError as error:
            if not is_token_error(error):
                raise
            log.info("%s: access token refused (%s); refreshing once", operation.value, error.code)
            self.tokens.invalidate(token)
        return await run(await self.tokens.get())

    def _url(self, endpoint: Endpoint) -> str:
        if endpoint.host == "webhook":
            raise ValueError("a webhook operation needs the URL the inbound message carried")
        base = self._config.api_base if endpoint.host == "api" else self._config.oapi_base
        return base.rstrip("/") + endpoint.path

    async def _attempt(
        self,
        operation: Operation,
        endpoint: Endpoint,
        url: str,
        body: dict[str, Any],
        token: str | None,
        urgent: bool,
    ) -> Any:
        """One HTTP exchange inside a budget slot; returns the decoded success body."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers[TOKEN_HEADER] = token
        timeout = self._config.timeout
        async with self._budget.slot(self.client_id, operation, urgent=urgent):
            try:
                with anyio.fail_after(timeout):
                    response = await self._http.request(
                        endpoint.method, url, json=body, headers=headers, timeout=timeout
                    )
            except TimeoutError as exc:
                self._observer.call(operation, "timeout")
                raise unavailable(operation, f"no answer within {timeout:g} s") from exc
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:  # nothing was sent
                raise unreachable(operation, mask_url(f"{type(exc).__name__}: {exc}")) from exc
            except httpx2.TransportError as exc:
                self._observer.call(operation, "transport_error")
                raise unavailable(operation, mask_url(f"{type(exc).__name__}: {exc}")) from exc
        self._observer.call(operation, str(response.status_code))
        log.debug(
            "%s %s %s -> %d", operation.value, endpoint.method, mask_url(url), response.status_code
        )
        return read_answer(operation, endpoint, response)


def _finishes(content: AiCard | BasicCard) -> bool:
    """True when ``content`` ends its message: a final streaming frame or a static card."""
    return not isinstance(content, StreamingCard) or content.finalize


def _card_params(params: Mapping[str, str] | None) -> Mapping[str, str]:
    return params if params is not None else {"flowStatus": FlowStatus.PROCESSING.value}
