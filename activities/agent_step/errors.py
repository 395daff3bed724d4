"""How a failed agent step reaches Temporal: a typed `ApplicationError` that says whether
retrying can help, and when.

* Non-retryable (the same attempt would fail the same way): bad step input, unknown
  agent/mode/config version, provider auth or bad request, no price for a billed model,
  an answer that does not fit the mode's output model (after one corrective re-ask), the
  step's budget spent, the run's pool unable to hold a call's worst case (`BudgetExhausted`),
  an answer written without tools that failed on their input (`ToolInputInvalid`).
* Retryable: every provider transiently down (with ``next_retry_delay`` from the earliest
  Retry-After when one was given, so Temporal waits instead of anyone sleeping), an answer
  written without tools that failed otherwise (`ToolFailed`: I/O, unexpected errors), and
  anything unexpected (store hiccup, CrewAI error).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

MIN_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 3600.0


class AgentInputInvalid(ValueError):
    """The step's agent, mode, configuration version or inputs are not acceptable."""


class AgentOutputInvalid(ValueError):
    """The agent's final answer is not valid JSON for the mode's output model."""


class ToolsFailed(Exception):
    """The agent answered while tools it needed had failed: the work was not done."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def break_cause_cycles(exc: BaseException) -> BaseException:
    """Cut cycles in an exception's cause chain (CrewAI's OpenAI provider does
    ``raise e from e``); Temporal's failure converter follows causes recursively and would
    overflow the stack, failing the activity with a RecursionError instead of its error."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None:
        seen.add(id(cur))
        nxt = cur.__cause__ or cur.__context__
        if nxt is not None and id(nxt) in seen:
            cur.__cause__ = None
            cur.__context__ = None
            cur.__suppress_context__ = True
            break
        cur = nxt
    return exc


def to_application_error(exc: BaseException, where: str) -> ApplicationError:
    from activities.providers.errors import ProviderFatalError, ProvidersExhausted
    from activities.providers.native import ProviderNotConfigured
    from activities.providers.prices import PriceUnknown
    from activities.providers.step_context import RunBudgetExhausted, StepBudgetExceeded
    from store.configs import ConfigVersionNotFound

    message = f"{where}: {exc}"
    if isinstance(exc, AgentInputInvalid | ConfigVersionNotFound):
        return ApplicationError(message, type="AgentInputInvalid", non_retryable=True)
    if isinstance(exc, AgentOutputInvalid):
        return ApplicationError(message, type="AgentOutputInvalid", non_retryable=True)
    if isinstance(exc, ToolsFailed):
        if exc.retryable:
            return ApplicationError(message, type="ToolFailed")
        return ApplicationError(message, type="ToolInputInvalid", non_retryable=True)
    if isinstance(exc, StepBudgetExceeded):
        return ApplicationError(message, type="StepBudgetExceeded", non_retryable=True)
    if isinstance(exc, RunBudgetExhausted):
        # No attempt can fit a call the run's pool cannot hold; the details name the pool,
        # its cap and spending, and the refused call's worst case.
        return ApplicationError(message, exc.details(), type="BudgetExhausted", non_retryable=True)
    if isinstance(exc, ProviderFatalError):
        kind = "ProviderAuthError" if exc.failure.kind == "auth" else "ProviderBadRequest"
        return ApplicationError(message, type=kind, non_retryable=True)
    if isinstance(exc, PriceUnknown | ProviderNotConfigured):
        return ApplicationError(message, type="ProviderConfigError", non_retryable=True)
    if isinstance(exc, ProvidersExhausted):
        after = exc.retry_after_s
        delay = None
        if after is not None and after >= MIN_RETRY_AFTER_S:
            delay = timedelta(seconds=min(after, MAX_RETRY_AFTER_S))
        return ApplicationError(message, type="ProvidersUnavailable", next_retry_delay=delay)
    return ApplicationError(message, type=f"AgentStepError.{type(exc).__name__}")
