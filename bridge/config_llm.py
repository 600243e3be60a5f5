"""The ``[llm]`` section: the OpenAI-compatible model endpoint, sampling, token counting.

``token_factors`` is a safety factor on tiktoken's counts per encoding (README, "Token
counting"); keys given are merged over ``DEFAULT_TOKEN_FACTORS``. ``[llm]`` may be
overridden per ``[[assistants]]``, key by key. Kept apart from ``bridge.config`` so that
module stays small; ``Config.llm`` is this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["DEFAULT_TOKEN_FACTORS", "LLMConfig"]

DEFAULT_TOKEN_FACTORS: Mapping[Literal["o200k_base", "cl100k_base"], float] = {
    "cl100k_base": 2.0,
    "o200k_base": 1.0,
}
"""cl100k stands in for every model without an encoding of its own: 2.0 covers the
most any tokenizer measured counted (docs/tokens.md). o200k is picked only for OpenAI's
models, whose own tokenizer it is."""


class LLMConfig(BaseModel):
    """The OpenAI-compatible model endpoint and how to sample from it."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    max_output_tokens: Annotated[int, Field(gt=0)] = 1024
    context_tokens: Annotated[int, Field(gt=0)] = 16_000
    idle_timeout: Annotated[float, Field(gt=0)] = 30.0
    deadline: Annotated[float, Field(gt=0)] = 300.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    # The model takes pictures (image content parts); otherwise it gets "[图片]".
    vision: bool = False
    encoding: Literal["o200k_base", "cl100k_base"] | None = None
    encodings: dict[str, Literal["o200k_base", "cl100k_base"]] = {}
    fallback_encoding: Literal["o200k_base", "cl100k_base"] = "cl100k_base"
    # Safety factor on tiktoken's counts, per encoding (README, "Token counting"): a
    # model's own tokenizer may count more. Keys given are merged over these defaults.
    token_factors: dict[
        Literal["o200k_base", "cl100k_base"], Annotated[float, Field(ge=0.5, le=4.0)]
    ] = Field(default_factory=lambda: dict(DEFAULT_TOKEN_FACTORS))

    @field_validator("token_factors")
    @classmethod
    def _factors_over_defaults(
        cls, given: dict[Literal["o200k_base", "cl100k_base"], float]
    ) -> dict[Literal["o200k_base", "cl100k_base"], float]:
        return {**DEFAULT_TOKEN_FACTORS, **given}

    @model_validator(mode="after")
    def _budget_leaves_room(self) -> LLMConfig:
        if self.max_output_tokens >= self.context_tokens:
            raise ValueError("max_output_tokens must be smaller than context_tokens")
        return self
