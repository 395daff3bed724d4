"""Each model call as an OpenTelemetry span, named and attributed by the GenAI semantic
conventions, plus what only the platform knows: its cost, the providers that failed before
one answered, whether the call journal answered instead of a provider, the budget reserved.

One span per call CrewAI makes (``chat <model>``; CLIENT for network providers, INTERNAL for
the in-process offline policy), opened by `traced` around an LLM's ``call`` and filled in
from inside it through the module functions, which find the open span in a context variable
(the call runs in the crew's worker thread, whose context is a copy of the activity's).

Off until `set_tracer` is given a tracer (`worker.tracing` does it when tracing is set up):
until then `traced` is one ``is None`` check and the module functions only write their log
lines (a failover at INFO, each answer at DEBUG), which do not depend on tracing.

Only sizes, counts, ids and labels go into spans: never prompts, answers, provider error
messages (they can echo a key) or URLs (they can carry credentials).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from activities.providers.prices import NANOS_PER_USD

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

# gen_ai.system (and its successor gen_ai.provider.name) per chain provider. An
# OpenAI-compatible server speaks OpenAI's API; `bizos.llm.provider` says which it was.
GEN_AI_SYSTEM = {
    "openai": "openai",
    "openai_compatible": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "offline": "_OTHER",
}
_tracer: Tracer | None = None


@dataclass
class _Open:
    """The span of the call running in this context, and what it has learnt so far."""

    span: Any
    started: float
    failed: list[str] = field(default_factory=list)


_current: contextvars.ContextVar[_Open | None] = contextvars.ContextVar(
    "bizos_model_call_span", default=None
)


def set_tracer(tracer: Tracer | None) -> None:
    """Model-call spans on (a tracer) or off (None)."""
    global _tracer
    _tracer = tracer


def enabled() -> bool:
    return _tracer is not None


def traced(*, in_process: bool = False) -> Callable[[F], F]:
    """Wrap a ``BaseLLM.call`` in the call's span (CLIENT; INTERNAL when ``in_process``: a
    policy running in this process, not a service). Attributes set on the wrapper (CrewAI's
    retry marker) are copied by `functools.wraps`."""
    kind = SpanKind.INTERNAL if in_process else SpanKind.CLIENT

    def decorate(call: F) -> F:
        @functools.wraps(call)
        def wrapper(llm: Any, *args: Any, **kwargs: Any) -> Any:
            tracer = _tracer
            if tracer is None:
                return call(llm, *args, **kwargs)
            with tracer.start_as_current_span(
                f"chat {llm.model}",
                kind=kind,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "bizos.llm.chain": str(llm.model),
                    **_request_settings(llm),
                },
                # Exception messages can carry what a provider echoed back: type only.
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                token = _current.set(_Open(span, time.perf_counter()))
                try:
                    return call(llm, *args, **kwargs)
                except BaseException as e:
                    span.set_attribute("error.type", type(e).__name__)
                    span.set_status(Status(StatusCode.ERROR, type(e).__name__))
                    raise
                finally:
                    _current.reset(token)

        return wrapper  # type: ignore[return-value]

    return decorate


def _request_settings(llm: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    temperature = getattr(llm, "temperature", None)
    if isinstance(temperature, int | float):
        attrs["gen_ai.request.temperature"] = float(temperature)
    max_tokens = getattr(llm, "max_tokens", None)
    if isinstance(max_tokens, int):
        attrs["gen_ai.request.max_tokens"] = max_tokens
    return attrs


def request(
    *,
    call_index: int,
    request_hash: str,
    messages: list[dict[str, Any]],
    provider: str,
    model: str,
) -> None:
    """The request as the journal keys it, its size (never its text), and the provider and
    model asked first (`answered` names the one that answered, when another did)."""
    open_ = _current.get()
    if open_ is None:
        return
    system = GEN_AI_SYSTEM.get(provider, "_OTHER")
    open_.span.update_name(f"chat {model}")
    open_.span.set_attributes(
        {
            "gen_ai.system": system,
            "gen_ai.provider.name": system,
            "gen_ai.request.model": model,
            "bizos.llm.call_index": call_index,
            "bizos.llm.request_hash": request_hash,
            "bizos.llm.messages": len(messages),
            "bizos.llm.prompt_chars": sum(len(str(m.get("content", ""))) for m in messages),
        }
    )


def reserved(worst_nanos: int) -> None:
    """The call's worst case was held in the run's budget pool before it was made."""
    open_ = _current.get()
    if open_ is not None:
        open_.span.set_attribute("bizos.budget.reserved_usd", worst_nanos / NANOS_PER_USD)


def failed_over(provider_label: str, kind: str, status: int | None) -> None:
    """A provider of the chain failed in a way the next one may not: the chain moves on to
    the next provider (if any is left; `ProvidersExhausted` otherwise)."""
    log.info(
        "provider %s failed a model call (%s%s)",
        provider_label,
        kind,
        f" HTTP {status}" if status else "",
    )
    open_ = _current.get()
    if open_ is None:
        return
    open_.failed.append(provider_label)
    attrs: dict[str, Any] = {"bizos.llm.provider": provider_label, "error.type": kind}
    if status:
        attrs["http.response.status_code"] = status
    open_.span.add_event("bizos.llm.failover", attrs)
    open_.span.set_attribute("bizos.llm.failover.failed", list(open_.failed))


def answered(
    provider: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    usd_nanos: int,
    *,
    reused: bool = False,
    priced_as: str | None = None,
) -> None:
    """Who answered, the tokens and the bill. ``reused``: the call journal answered with a
    call an earlier attempt paid for (its tokens, billed $0 now)."""
    log.debug(
        "model call answered by %s:%s%s (%d in, %d out, $%.6f)",
        provider,
        model,
        " from the call journal" if reused else "",
        tokens_in,
        tokens_out,
        usd_nanos / NANOS_PER_USD,
    )
    open_ = _current.get()
    if open_ is None:
        return
    system = GEN_AI_SYSTEM.get(provider, "_OTHER")
    span = open_.span
    span.update_name(f"chat {model}")
    attrs: dict[str, Any] = {
        "gen_ai.system": system,
        "gen_ai.provider.name": system,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
        "bizos.llm.provider": provider,
        "bizos.llm.answered_by": f"{provider}:{model}",
        "bizos.llm.cost_usd": usd_nanos / NANOS_PER_USD,
        "bizos.llm.journal.reused": reused,
        "bizos.llm.failover.count": len(open_.failed),
        "bizos.llm.duration_ms": (time.perf_counter() - open_.started) * 1000,
    }
    if priced_as:
        attrs["bizos.llm.priced_as"] = priced_as
    span.set_attributes(attrs)
