"""What can go wrong reading or writing secrets, as types a caller can act on."""

from __future__ import annotations


class SecretsError(RuntimeError):
    """Base of the secrets layer's errors. Messages name secrets, never their values."""


class SecretsUnavailable(SecretsError):
    """The secrets store cannot be reached (or refused us) and no last-known-good value is
    young enough to use. Retryable: the store may be back by the next attempt. An agent step
    maps it to a retryable Temporal ``ApplicationError`` (see `as_application_error`)."""

    retryable = True

    def __init__(self, name: str, reason: str) -> None:
        self.secret = name
        super().__init__(f"secret {name}: {reason}")

    def as_application_error(self) -> BaseException:
        """The retryable Temporal error an activity raises for this (imported lazily: the
        secrets layer is used by processes without the Temporal SDK loaded)."""
        from temporalio.exceptions import ApplicationError

        return ApplicationError(str(self), type="SecretsUnavailable", non_retryable=False)


class SecretsReadOnly(SecretsError):
    """The configured backend cannot store secrets (the env/.env backend)."""


class InvalidSecretName(SecretsError, ValueError):
    """A secret or tenant name that cannot be stored (shape, or not a provider key)."""
