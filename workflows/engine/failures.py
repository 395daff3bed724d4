"""How a step's failure is told: the exception steps raise, and the message of an activity
or child failure with the reason retrying stopped."""

from __future__ import annotations

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
)


class StepFailure(Exception):
    """A step failed; `fatal` ends the run whatever the step's `on_error` says."""

    def __init__(self, message: str, *, fatal: bool = False, error_type: str = "StepFailed"):
        super().__init__(message)
        self.fatal = fatal
        self.error_type = error_type


def failure_cause(err: BaseException) -> str:
    """The innermost useful message of an activity/child failure, and why retrying stopped."""
    seen = err
    while isinstance(seen, FailureError) and seen.cause is not None:
        seen = seen.cause
    message = seen.message if isinstance(seen, ApplicationError) else str(seen)
    message = message or type(seen).__name__
    if isinstance(err, ActivityError):
        if err.retry_state == RetryState.TIMEOUT:
            message += " (deadline reached: no time left for another attempt)"
        elif err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
            message += " (all attempts used)"
    return message
