"""The one error tree of bridge, and the exit code the CLI gives each branch.

Every failure that crosses a module boundary is one of these. Adapters translate what
they catch (httpx2, openai, JSON, TOML) into a subclass here, chaining the cause with
``raise … from``; nothing above an adapter ever sees a foreign exception type.

    BridgeError
    ├── ConfigError                 bad TOML, unknown key, wrong type, missing ${ENV}
    ├── LLMError                    the model endpoint failed
    │   ├── LLMUnreachable          no connection to the endpoint (nothing was sent)
    │   ├── LLMTimeout              idle gap between chunks or overall deadline
    │   ├── LLMRateLimited          429 from the model endpoint
    │   └── LLMPromptTooLong        the prompt does not fit the model's context
    ├── PlatformError               DingTalk answered with an error (or not at all)
    │   ├── PlatformAuthError       bad credentials, invalid or expired access token
    │   ├── PlatformPermissionDenied   a scope is not granted
    │   ├── PlatformRateLimited     per-app / per-API QPS limits, IP ban
    │   ├── PlatformQuotaExceeded   the org's monthly API quota is used up
    │   ├── PlatformUnavailable     5xx, 504, timeouts, broken answers
    │   │   └── PlatformUnreachable no connection: the request was never sent
    │   └── PlatformRejected        the request itself was refused (400 invalid.*)
    │       ├── SessionExpired      a sessionWebhook past its expiry (errcode 300001)
    │       └── InvalidConversationToken   unknown or already finished token
    ├── InboundError                a request to us was refused (signature, body, size)
    ├── MediaError                  a message's picture could not be fetched (host, size, type)
    └── StateError                  the state store cannot be used (corrupt, locked, unwritable)
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``bridge`` command, one per error branch."""

    OK = 0
    FAILURE = 1
    CONFIG = 2
    PLATFORM = 3
    LLM = 4
    STATE = 5
    INTERRUPTED = 130


class BridgeError(Exception):
    """Base of every error bridge raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(BridgeError):
    """The configuration (or a prompt template) is invalid.

    ``file`` is the file that holds the problem and ``key`` its dotted TOML key path, so
    the message can say exactly where to look.
    """

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.message = message
        self.file = file
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file and self.key:
            where = f"{self.file}: {self.key}: "
        elif self.file:
            where = f"{self.file}: "
        elif self.key:
            where = f"{self.key}: "
        return f"{where}{self.message}"


class LLMError(BridgeError):
    """The model endpoint failed: connection, status, malformed stream or timeout."""

    exit_code = ExitCode.LLM

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.message = message
        self.status = status
        super().__init__(message if status is None else f"{message} (HTTP {status})")


class LLMUnreachable(LLMError):
    """The model endpoint could not be reached: refused, unknown host, no route."""


class LLMTimeout(LLMError):
    """No chunk within the idle timeout, or the whole answer passed its deadline."""


class LLMRateLimited(LLMError):
    """The model endpoint answered 429."""


class LLMPromptTooLong(LLMError):
    """The endpoint refused the prompt as longer than the model's context, before any text.

    A 400 (or 413) context-length error such as OpenAI's ``context_length_exceeded``, or
    a stream that ended before any text without a finish reason (llama.cpp's way when
    streaming). Nothing was shown, so the answer may be asked again with less history.
    """


class PlatformError(BridgeError):
    """DingTalk refused or failed a call.

    Carries what an operator needs to find the call again: the operation, the HTTP
    status, DingTalk's own error code and message, and the request id it returned.
    """

    exit_code = ExitCode.PLATFORM

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.operation = operation
        self.status = status
        self.code = code
        self.request_id = request_id
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"{self.operation}: {self.message}"]
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.code:
            details.append(f"code {self.code}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)


class PlatformAuthError(PlatformError):
    """Credentials were refused, or the access token is invalid or expired."""


class PlatformPermissionDenied(PlatformError):
    """The app lacks a permission scope, or the API is not available to it."""


class PlatformRateLimited(PlatformError):
    """A QPS/QPM limit or an IP ban. ``retry_after`` is the server's hint, if any."""

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, operation=operation, status=status, code=code, request_id=request_id
        )
        self.retry_after = retry_after


class PlatformQuotaExceeded(PlatformError):
    """The organisation's monthly API call quota is used up."""


class PlatformUnavailable(PlatformError):
    """DingTalk did not answer usefully: 5xx, 504, connection failure or timeout."""


class PlatformUnreachable(PlatformUnavailable):
    """The request never reached DingTalk (no connection): safe to retry any call."""


class PlatformRejected(PlatformError):
    """DingTalk refused the request as invalid (a 400 ``invalid.*`` and the like)."""


class SessionExpired(PlatformRejected):
    """A sessionWebhook is past its expiry (errcode 300001, HTTP 200)."""


class InvalidConversationToken(PlatformRejected):
    """The conversationToken is unknown or its message is already finished."""


class InboundError(BridgeError):
    """A request to bridge was refused: bad signature, stale timestamp, bad body."""

    def __init__(self, message: str, *, status: int) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


class MediaError(BridgeError):
    """A medium of a message could not be fetched: its URL's host is not allowed, it is
    too large, not a picture bridge can show, or its host failed or was too slow.

    DingTalk's own refusals of the download code are ``PlatformError``s.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class StateError(BridgeError):
    """The state store cannot be used: a corrupt or locked file, no permission, a lost server.

    ``location`` names the store (the file path of ``[serve] state``).
    """

    exit_code = ExitCode.STATE

    def __init__(self, message: str, *, location: str) -> None:
        self.message = message
        self.location = location
        super().__init__(f"state {location}: {message}")
