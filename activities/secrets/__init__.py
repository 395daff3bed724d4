"""Secrets lookup: `get_secret(name, tenant=...) -> str | None`, behind one installed backend.

Backends: `EnvSecrets` (process environment, then `.env`; the default) and `VaultSecrets`
(HashiCorp Vault KV v2 with a last-known-good cache). `install_configured_backend()` installs
the one `SecretsSettings` names (``BIZOS_SECRETS_BACKEND=env|vault``); worker and API
processes call it at start. See docs/secrets.md.

Values are never logged, and an empty value counts as "not configured" so a blank line in
`.env` cannot pass for a credential. Secrets are read only inside the activities that use
them: never put one in a workflow input, result, memo, search attribute, log line or span.

Blocking: with the Vault backend, `get_secret`, `missing_secrets` and the tenant-key
functions may make HTTP calls; async code calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from activities.secrets.env import EnvSecrets, parse_dotenv
from activities.secrets.errors import (
    InvalidSecretName,
    SecretsError,
    SecretsReadOnly,
    SecretsUnavailable,
)

__all__ = [
    "EnvSecrets",
    "InvalidSecretName",
    "SecretsBackend",
    "SecretsError",
    "SecretsReadOnly",
    "SecretsUnavailable",
    "TenantSecretsBackend",
    "get_backend",
    "get_secret",
    "get_tenant_secret",
    "missing_secrets",
    "parse_dotenv",
    "set_backend",
]


class SecretsBackend(Protocol):
    def get(self, name: str) -> str | None:
        """The secret's value, or None when this backend does not have it."""
        ...


@runtime_checkable
class TenantSecretsBackend(Protocol):
    """A backend that also keeps tenants' own provider keys (Vault)."""

    def get(self, name: str) -> str | None: ...

    def get_for_tenant(self, tenant: str, name: str) -> str | None: ...

    def put_for_tenant(self, tenant: str, name: str, value: str) -> None: ...

    def delete_for_tenant(self, tenant: str, name: str) -> bool: ...

    def names_for_tenant(self, tenant: str) -> list[str]: ...


_backend: SecretsBackend = EnvSecrets()


def set_backend(backend: SecretsBackend) -> SecretsBackend:
    """Install a backend (Vault, or a fake in tests); returns the previous one."""
    global _backend
    previous, _backend = _backend, backend
    return previous


def get_backend() -> SecretsBackend:
    return _backend


def get_secret(name: str, *, tenant: str | None = None) -> str | None:
    """The secret called `name`, or None when it is not configured. With `tenant`, the
    tenant's own value wins over the platform's (backends that keep per-tenant secrets).
    Raises `SecretsUnavailable` when the store is down and nothing usable is cached."""
    if tenant is not None:
        own = get_tenant_secret(tenant, name)
        if own:
            return own
    return _backend.get(name) or None


def get_tenant_secret(tenant: str, name: str) -> str | None:
    """The tenant's own value of `name` only (None: the tenant has none, or the backend
    keeps no per-tenant secrets)."""
    backend = _backend
    if isinstance(backend, TenantSecretsBackend):
        return backend.get_for_tenant(tenant, name) or None
    return None


def missing_secrets(names: list[str] | tuple[str, ...], *, tenant: str | None = None) -> list[str]:
    """The subset of `names` that is not configured, in the given order."""
    return [n for n in names if not get_secret(n, tenant=tenant)]
