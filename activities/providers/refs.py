"""Which provider and model a chain link uses, and where its credentials come from.

Written in catalogs, configuration versions and ``BIZOS_PROVIDERS`` either as a mapping or
as a short string::

    openai:gpt-4o-mini
    anthropic:claude-3-5-haiku-latest
    gemini:gemini-2.0-flash
    openai_compatible:llama3.1@http://127.0.0.1:8000/v1
    offline
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProviderKind = Literal["openai", "anthropic", "gemini", "openai_compatible", "offline"]

DEFAULT_KEY_SECRETS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "openai_compatible": (),
    "offline": (),
}
DEFAULT_TIMEOUT_S = 60.0


class ProviderRef(BaseModel):
    """One link of a provider chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderKind
    model: str = Field(min_length=1)
    base_url: str | None = Field(
        default=None, description="required for openai_compatible; optional proxy for others"
    )
    api_key_secret: str | None = Field(
        default=None,
        description="secret name holding the API key (default: the provider's usual variable)",
    )
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=600)
    price_in_per_mtok: float | None = Field(
        default=None, ge=0, description="USD per million input tokens; overrides the table"
    )
    price_out_per_mtok: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return parse_ref(data)
        return data

    @model_validator(mode="after")
    def _compatible_needs_url(self) -> ProviderRef:
        if self.provider == "openai_compatible" and not self.base_url:
            raise ValueError(
                "an openai_compatible provider needs base_url "
                "(e.g. openai_compatible:llama3.1@http://127.0.0.1:8000/v1)"
            )
        return self

    @property
    def label(self) -> str:
        return "offline" if self.provider == "offline" else f"{self.provider}:{self.model}"

    def key_secrets(self) -> tuple[str, ...]:
        if self.api_key_secret:
            return (self.api_key_secret,)
        return DEFAULT_KEY_SECRETS[self.provider]


def parse_ref(text: str) -> dict[str, Any]:
    text = text.strip()
    if text == "offline":
        return {"provider": "offline", "model": "offline-policy"}
    provider, sep, rest = text.partition(":")
    if not sep or not rest:
        raise ValueError(
            f"provider {text!r} must look like 'openai:gpt-4o-mini', "
            "'openai_compatible:<model>@<base_url>' or 'offline'"
        )
    data: dict[str, Any] = {"provider": provider}
    if provider == "openai_compatible" and "@" in rest:
        model, _, url = rest.partition("@")
        data.update(model=model, base_url=url)
    else:
        data["model"] = rest
    return data


def parse_chain(text: str) -> list[ProviderRef]:
    """A ``BIZOS_PROVIDERS`` value: comma-separated short forms, or a JSON list of short
    forms and mappings (for timeouts, prices, key secrets)."""
    text = text.strip()
    if text.startswith("["):
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("a JSON provider chain must be a list")
        return [ProviderRef.model_validate(item) for item in items]
    return [ProviderRef.model_validate(part) for part in text.split(",") if part.strip()]
