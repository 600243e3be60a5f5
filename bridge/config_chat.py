"""The ``[chat]`` and ``[notices]`` sections: stopping an answer, and how answers end.

``[chat]`` says how a user stops an answer and what a new message does while one
streams (README, "Stopping an answer"):

- ``stop_words``: a message that is exactly one of these (after the assistant's own
  @mention is removed; case and surrounding spaces ignored) stops the answer streaming
  in that conversation and drops the sender's messages still waiting there; the stop
  word itself is answered once with ``stop_reply``;
- ``on_new_message``: ``queue`` (a new message waits for the answer streaming) or
  ``interrupt`` (the requester's new message stops that answer, drops what waits
  before it, and is answered next);
- ``stop_button``: streaming AI cards (``ai_card``) are created with the stop
  button's variables on (``stop_action``/``hasAction``); the card template must have the
  button (docs/dingtalk-setup.md). Its callback arrives over Stream, or, when
  ``card_callback_route_key`` is set, over HTTP at ``/dingtalk/<assistant>/card``,
  signed with ``card_callback_secret`` (the ``apiSecret`` of the registration). With
  ``card_callback_url`` (that route's public URL) ``bridge serve`` registers the key
  itself at start-up (``bridge.doors``).

``[notices]`` holds the mark after the text of an answer that did not end normally,
one per cause: cut at the model's token limit, stopped, and each way the model can fail
(``refused`` may say ``{status}``, the HTTP status). Any other failure (a connection
closed mid-answer, a shutdown) keeps ``[pacing] failure_notice``.

Both sections may be overridden per ``[[assistants]]``, key by key, like ``[pacing]``.
Kept apart from ``bridge.config`` so that module stays small.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["ChatConfig", "NoticesConfig"]

Notice = Annotated[str, Field(min_length=1, max_length=500)]


class ChatConfig(BaseModel):
    """``[chat]``: stop words, the stop button, and the policy for a new message."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    stop_words: tuple[Annotated[str, Field(min_length=1, max_length=40)], ...] = ("停止", "/stop")
    stop_reply: Notice = "好的，已停止。"
    on_new_message: Literal["queue", "interrupt"] = "queue"
    stop_button: bool = True
    # HTTP card callbacks (bridge without Stream): the key registered with
    # POST /v1.0/card/callbacks/register, and its apiSecret (x-ddpaas-signature).
    card_callback_route_key: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    card_callback_secret: SecretStr | None = None
    # The public URL of /dingtalk/<assistant>/card: when set, bridge serve registers it
    # for the route key at start-up, so the key cannot point anywhere stale.
    card_callback_url: (
        Annotated[str, Field(pattern=r"^https?://[^\s/]+", max_length=500)] | None
    ) = None

    @field_validator("card_callback_secret")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty: set it to the apiSecret of the callback registration")
        return value

    @model_validator(mode="after")
    def _url_needs_its_route(self) -> ChatConfig:
        if self.card_callback_url is not None and self.card_callback_route_key is None:
            raise ValueError(
                "card_callback_url needs card_callback_route_key: the key it is registered for"
            )
        return self

    def is_stop_word(self, text: str) -> bool:
        """True when ``text`` is one of the stop words (case and outer spaces ignored)."""
        said = text.strip().casefold()
        return bool(said) and any(said == word.strip().casefold() for word in self.stop_words)


class NoticesConfig(BaseModel):
    """``[notices]``: the mark after an answer's text, per way it ended."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    stopped: Notice = "（已停止）"
    cut: Notice = "（回答过长，已截断）"
    unreachable: Notice = "（暂时无法连接模型服务，请稍后重试）"
    timeout: Notice = "（模型响应超时，请稍后重试）"
    refused: Notice = "（模型服务拒绝了请求：HTTP {status}，请稍后重试）"
    prompt_too_long: Notice = "（对话内容过长，模型无法处理，请精简问题或开启新话题）"

    @field_validator("refused")
    @classmethod
    def _only_status(cls, value: str) -> str:
        try:
            value.format(status=429)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                "may use {status} (the HTTP status) and no other {…}; write {{ }} for braces"
            ) from exc
        return value
