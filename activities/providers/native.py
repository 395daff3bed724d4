"""Build CrewAI's native provider clients (OpenAI, Anthropic, Gemini SDKs; never litellm)
for one chain link, with every retry inside the SDK switched off.

Retries belong to exactly one layer per concern (DESIGN §6): ``max_retries=0`` here (the
OpenAI and Anthropic SDKs retry twice by default; google-genai retries only when given
retry options, and none are given), CrewAI's own rate-limit retry is bypassed by the chain,
and Temporal retries the attempt.
"""

from __future__ import annotations

import activities.crew.env  # noqa: F401  (must precede the first crewai import)

# isort: split

from crewai.llms.base_llm import BaseLLM

from activities.providers.credentials import api_key_for
from activities.providers.refs import ProviderRef

PLACEHOLDER_KEY = "not-needed"  # OpenAI-compatible servers often take any key


class ProviderNotConfigured(LookupError):
    """The provider's credentials are not in the secrets store."""


def build_native_llm(
    ref: ProviderRef,
    *,
    temperature: float | None,
    max_tokens: int | None = None,
    tenant: str | None = None,
) -> BaseLLM:
    """``max_tokens`` caps the output of every call (each SDK under its own name), so a
    call's worst-case cost is known and a runaway generation cannot hold a step."""
    key = api_key_for(ref, tenant)  # the tenant's own key first; read here, never passed on
    if ref.provider == "openai":
        from crewai.llms.providers.openai.completion import OpenAICompletion

        return OpenAICompletion(
            model=ref.model,
            api_key=_require(ref, key),
            base_url=ref.base_url,
            timeout=ref.timeout_s,
            max_retries=0,
            temperature=temperature,
            # OpenAI's current models take max_completion_tokens (reasoning models refuse
            # max_tokens); it bounds reasoning and visible output tokens together.
            max_completion_tokens=max_tokens,
        )
    if ref.provider == "openai_compatible":
        from crewai.llms.providers.openai.completion import OpenAICompletion

        return OpenAICompletion(
            model=ref.model,
            api_key=key or PLACEHOLDER_KEY,
            base_url=ref.base_url,
            custom_openai=True,
            provider="openai_compatible",
            timeout=ref.timeout_s,
            max_retries=0,
            temperature=temperature,
            max_tokens=max_tokens,  # the name vLLM, Ollama and gateways all take
        )
    if ref.provider == "anthropic":
        from crewai.llms.providers.anthropic.completion import AnthropicCompletion

        return AnthropicCompletion(
            model=ref.model,
            api_key=_require(ref, key),
            base_url=ref.base_url,
            timeout=ref.timeout_s,
            max_retries=0,
            temperature=temperature,
            max_tokens=max_tokens,  # None: CrewAI's per-model default (Anthropic requires one)
        )
    if ref.provider == "gemini":
        from crewai.llms.providers.gemini.completion import GeminiCompletion
        from google.genai import types

        http = types.HttpOptions(timeout=int(ref.timeout_s * 1000), base_url=ref.base_url)
        return GeminiCompletion(
            model=ref.model,
            api_key=_require(ref, key),
            client_params={"http_options": http},
            temperature=temperature,
            max_output_tokens=max_tokens,
        )
    raise ValueError(f"{ref.label} is not a network provider")


def _require(ref: ProviderRef, key: str | None) -> str:
    if not key:
        raise ProviderNotConfigured(
            f"{ref.label}: no API key (secret {' or '.join(ref.key_secrets())} is not set)"
        )
    return key
