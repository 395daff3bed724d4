"""The provider chain: one CrewAI LLM that fails over across real providers, journals every
answered call and prices it.

Per model call CrewAI makes:

1. The request (messages + stop words) is hashed; if this run's step already paid for the
   same request in an earlier attempt (call journal), that answer is returned and the ledger
   gets a ``reused`` row — no provider call, no money, nothing reserved.
2. Otherwise, when the step draws on a run pool (``budget_pool``), the call's worst case is
   reserved from it first: an upper bound of its input tokens (`prompt_token_bound`) times
   the input price plus ``max_tokens`` times the output price, at the priciest link of the
   chain. A pool that cannot hold it refuses the call (`RunBudgetExhausted`, not retried).
   Then providers are tried in order. Rate limits, 5xx, timeouts, connection errors and
   malformed responses fail over to the next provider; a rate-limited provider is skipped
   by every step of the worker process until its Retry-After passes (`cooldown`). Auth
   (401/403) and bad requests (400/404/422) stop the step at once (`ProviderFatalError`):
   no failover can fix them.
3. The answer's token usage is priced and written to the ledger and journal (one
   transaction, keyed) before CrewAI sees it, and the reservation is settled to that bill
   ($0 when no provider answered).

Every call asks for at most ``max_tokens`` output tokens (per mode in the catalog, or the
configuration version), so its worst case is known and a runaway generation cannot hold a
step. `ChainLLM.reask` is the one corrective re-ask of a final answer that does not fit the
mode's output model: the same conversation plus the validation error, through the same
chain, journal and pool.

If every provider fails, `ProvidersExhausted` ends the attempt; Temporal retries it, after
the earliest Retry-After when one was given. Nothing here sleeps.

The chain speaks CrewAI's ReAct text protocol (``supports_function_calling() -> False``) for
every provider: one loop shape, plain-text answers that journal and replay exactly.
"""

from __future__ import annotations

import activities.crew.env  # noqa: F401  (must precede the first crewai import)

# isort: split

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from crewai.llms.base_llm import BaseLLM
from pydantic import BaseModel, PrivateAttr

from activities.catalog.catalog import DEFAULT_MAX_TOKENS
from activities.catalog.output_models import schema_hint
from activities.crew.patches import call_stop_override, owns_retries, without_crewai_retry
from activities.metrics import agent_metrics
from activities.providers import call_spans, cooldown
from activities.providers.errors import (
    EmptyAnswer,
    ProviderFailure,
    ProviderFatalError,
    ProvidersExhausted,
    classify,
)
from activities.providers.native import build_native_llm
from activities.providers.prices import Price, cost_nanos, price_for
from activities.providers.refs import ProviderRef
from activities.providers.step_context import StepContext

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4
BOUND_BYTES_PER_TOKEN = 3
"""For the worst case of a call: tokenizers average about 4 characters of English a token;
3 bytes of UTF-8 a token bounds ordinary text (prose, JSON, code) from above."""
TOKENS_PER_MESSAGE = 4  # role and separators a chat format adds to each message
TOKENS_PER_REQUEST = 3  # and to the request (the reply's priming)


def request_hash(messages: list[dict[str, Any]], stop: list[str]) -> str:
    canonical = json.dumps(
        {"messages": messages, "stop": stop},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def normalize_messages(messages: str | list[Any]) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages]


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_token_bound(messages: list[dict[str, Any]]) -> int:
    """An upper estimate of the input tokens of a request, for its worst-case cost."""
    size = sum(len(str(m.get("content", "")).encode()) for m in messages)
    return (
        math.ceil(size / BOUND_BYTES_PER_TOKEN)
        + TOKENS_PER_MESSAGE * len(messages)
        + TOKENS_PER_REQUEST
    )


class _Link:
    """One provider of the chain with its client, price and rate-limit cooldown."""

    def __init__(
        self,
        ref: ProviderRef,
        temperature: float | None,
        max_tokens: int,
        tenant: str | None = None,
    ):
        self.ref = ref
        self.price: Price = price_for(ref)
        self.max_tokens = max_tokens
        self.llm = build_native_llm(
            ref, temperature=temperature, max_tokens=max_tokens, tenant=tenant
        )
        self.cooldown = cooldown.key_for(ref, tenant)

    def worst_nanos(self, prompt_tokens: int) -> int:
        """The most a call of ``prompt_tokens`` input tokens can cost on this link."""
        return cost_nanos(self.price, prompt_tokens, self.max_tokens)

    def cooling(self, now: float) -> float:
        return cooldown.remaining(self.cooldown, now)

    def call(
        self, messages: list[dict[str, Any]], stop: list[str], **kw: Any
    ) -> tuple[Any, int, int]:
        before = self.llm.get_token_usage_summary()
        # CrewAI wraps every provider call in its own rate-limit retry (3 tries, sleeping).
        # The chain fails over instead and Temporal owns attempt retries, so CrewAI is told
        # a retry owner is already active.
        with without_crewai_retry(), call_stop_override(self.llm, stop):
            result = self.llm.call(messages, **kw)  # type: ignore[arg-type]
        if result is None or (isinstance(result, str) and not result.strip()):
            raise EmptyAnswer(f"{self.ref.label} answered HTTP 200 with no content")
        after = self.llm.get_token_usage_summary()
        tokens_in = after.prompt_tokens - before.prompt_tokens
        tokens_out = after.completion_tokens - before.completion_tokens
        if tokens_in == 0 and tokens_out == 0:
            # A provider that reports no usage is still billing: estimate rather than
            # record a free call.
            tokens_in = estimate_tokens("".join(str(m["content"]) for m in messages))
            tokens_out = estimate_tokens(str(result))
        return result, tokens_in, tokens_out


class ChainLLM(BaseLLM):
    """The LLM every real agent step gets. Build with `ChainLLM.build(...)`."""

    llm_type: str = "bizos_chain"
    model: str = "provider-chain"
    provider: str = "chain"

    _links: list[_Link] = PrivateAttr(default_factory=list)
    _ctx: StepContext = PrivateAttr(default_factory=StepContext)
    _last_request: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _last_answer: str = PrivateAttr(default="")

    @classmethod
    def build(
        cls,
        refs: list[ProviderRef],
        ctx: StepContext,
        *,
        temperature: float | None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> ChainLLM:
        if not refs:
            raise ValueError("a provider chain needs at least one provider")
        llm = cls(
            model="+".join(r.label for r in refs), temperature=temperature, max_tokens=max_tokens
        )
        llm._links = [_Link(ref, temperature, max_tokens, ctx.tenant) for ref in refs]
        llm._ctx = ctx
        return llm

    def worst_nanos(self, messages: list[dict[str, Any]]) -> int:
        """The call's worst case at the priciest link (any link may end up answering)."""
        prompt = prompt_token_bound(messages)
        return max(link.worst_nanos(prompt) for link in self._links)

    def reask(self, problem: str, family: str) -> str:
        """The one corrective re-ask: the conversation that produced the final answer, the
        answer, and what is wrong with it; returns the new answer (the caller validates it).
        A model call like any other: journalled, billed, reserved from the run's pool."""
        if not self._last_request:
            raise RuntimeError("no final answer to correct: the chain was never called")
        messages = [
            *self._last_request,
            {"role": "assistant", "content": self._last_answer},
            {"role": "user", "content": reask_prompt(problem, family)},
        ]
        return str(self.call(messages))

    def supports_function_calling(self) -> bool:
        return False

    def supports_stop_words(self) -> bool:
        return True

    def get_context_window_size(self) -> int:
        return min(link.llm.get_context_window_size() for link in self._links)

    def get_input_tokens_count(
        self, messages: Any, tools: Any = None, response_model: Any = None
    ) -> int:
        # Local estimate: CrewAI asks before every call, and a network count per call
        # (OpenAI's count endpoint) would double the requests.
        return estimate_tokens("".join(str(m["content"]) for m in normalize_messages(messages)))

    # CrewAI wraps subclasses' `call` in its rate-limit retry unless marked: the chain is
    # the retry owner within an attempt, so it must not be retried around.
    @owns_retries
    @call_spans.traced()  # one span per model call (GenAI conventions + cost, failover, reuse)
    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        ctx = self._ctx
        ctx.check_cancelled()
        msgs = normalize_messages(messages)
        stop = list(self.stop_sequences)
        digest = request_hash(msgs, stop)
        index = ctx.next_call_index(digest)
        first = self._links[0].ref
        call_spans.request(
            call_index=index,
            request_hash=digest,
            messages=msgs,
            provider=first.provider,
            model=first.model,
        )
        self._last_request = msgs
        if ctx.journal is not None:
            hit = ctx.journal.lookup(digest, index)
            if hit is not None:
                ctx.journal.record_reuse(digest, index, hit)
                call_spans.answered(
                    hit.provider, hit.model, hit.tokens_in, hit.tokens_out, 0, reused=True
                )
                ctx.usage.reused_calls += 1
                ctx.usage.provider, ctx.usage.model = hit.provider, hit.model
                self._last_answer = hit.response
                return hit.response
        ctx.check_budget()
        pool = ctx.run_budget
        if pool is not None:
            worst = self.worst_nanos(msgs)
            call_spans.reserved(worst)
            pool.reserve(digest, index, worst)  # or RunBudgetExhausted
        answer: _Answer | None = None
        try:
            answer = self._ask_links(msgs, stop, callbacks, from_task, from_agent, response_model)
            self._last_answer = answer.text
            if ctx.journal is not None:
                ctx.journal.record_billed(
                    digest,
                    index,
                    provider=answer.link.ref.provider,
                    model=answer.link.ref.model,
                    tokens_in=answer.tokens_in,
                    tokens_out=answer.tokens_out,
                    usd_nanos=answer.nanos,
                    response=answer.text,
                )
        except BaseException:
            # No answer: the hold is released ($0, as the ledger has it). An answer that
            # could not be recorded keeps its hold: charged in full, never lost.
            if pool is not None and answer is None:
                try:
                    pool.settle(digest, index, 0)
                except Exception:
                    log.warning("could not release the reservation of a failed call", exc_info=True)
            raise
        if pool is not None:
            pool.settle(digest, index, answer.nanos)
        link = answer.link
        call_spans.answered(
            link.ref.provider, link.ref.model, answer.tokens_in, answer.tokens_out, answer.nanos
        )
        ctx.usage.billed_calls += 1
        ctx.usage.add(
            link.ref.provider, link.ref.model, answer.tokens_in, answer.tokens_out, answer.nanos
        )
        return answer.result

    def _ask_links(
        self,
        msgs: list[dict[str, Any]],
        stop: list[str],
        callbacks: Any,
        from_task: Any,
        from_agent: Any,
        response_model: type[BaseModel] | None,
    ) -> _Answer:
        """Try the links in order: the first answer, priced."""
        ctx = self._ctx
        failures: list[ProviderFailure] = []
        for link in self._links:
            # Checked just before each link is asked: trying the earlier links takes time,
            # and another step may have met a 429 meanwhile.
            wait = link.cooling(time.monotonic())
            if wait:
                failures.append(
                    ProviderFailure(link.ref.label, "rate_limited", 429, "cooling down", wait)
                )
                call_spans.failed_over(link.ref.label, "cooling_down", None)  # after a 429
                _count_failover(link, "cooling_down")
                continue
            ctx.check_cancelled()
            try:
                result, tokens_in, tokens_out = link.call(
                    msgs,
                    stop,
                    callbacks=callbacks,
                    from_task=from_task,
                    from_agent=from_agent,
                    response_model=response_model,
                )
            except Exception as exc:
                failure = classify(link.ref.label, exc)
                if failure.kind in ("auth", "bad_request"):
                    raise ProviderFatalError(failure) from exc
                if not failure.fails_over:
                    raise
                if failure.kind == "rate_limited":
                    cooldown.rate_limited(link.cooldown, failure.retry_after_s or 1.0)
                failures.append(failure)
                call_spans.failed_over(failure.provider, failure.kind, failure.status)
                _count_failover(link, failure.kind)
                continue
            text = result.model_dump_json() if isinstance(result, BaseModel) else str(result)
            return _Answer(
                result=result,
                text=text,
                link=link,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                nanos=cost_nanos(link.price, tokens_in, tokens_out),
            )
        raise ProvidersExhausted(failures)


def _count_failover(link: _Link, reason: str) -> None:
    ref = link.ref
    agent_metrics().failovers.add(
        1, {"provider": ref.provider, "model": ref.model, "reason": reason}
    )


@dataclass
class _Answer:
    result: Any
    text: str
    link: _Link
    tokens_in: int
    tokens_out: int
    nanos: int


def reask_prompt(problem: str, family: str) -> str:
    return (
        f"{problem}\n\nThat final answer cannot be used. Reply again with the final answer "
        f"only: a single JSON object for the '{family}' output model, matching this JSON "
        f"schema, with no prose and no code fence: {schema_hint(family)}"
    )
