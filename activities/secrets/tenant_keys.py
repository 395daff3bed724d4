"""A tenant's own provider keys: set, remove, list names (never values). What the admin API
route and `bizos secrets` call. Only a backend that keeps per-tenant secrets (Vault) can store
them; the env backend refuses with what to configure instead.

Blocking (Vault HTTP calls): async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import re

from activities.secrets import TenantSecretsBackend, get_backend
from activities.secrets.errors import InvalidSecretName, SecretsReadOnly

PROVIDER_KEY_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,54}_API_KEY$")
"""Tenants store model-provider keys only (OPENAI_API_KEY, ANTHROPIC_API_KEY,
GOOGLE_API_KEY, GEMINI_API_KEY, or the `api_key_secret` a chain link names): they are the
only secrets looked up per tenant, so anything else stored there would silently do nothing."""
MAX_VALUE_CHARS = 4096


def check_name(name: str) -> str:
    if not PROVIDER_KEY_NAME.match(name):
        raise InvalidSecretName(
            f"{name!r} is not a provider key name: use upper-case letters, digits and _ "
            "ending in _API_KEY (e.g. OPENAI_API_KEY)"
        )
    return name


def check_value(value: str) -> str:
    if not value or value != value.strip() or any(c in value for c in "\r\n\t "):
        raise InvalidSecretName("the key is empty or contains whitespace")
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidSecretName(f"the key is longer than {MAX_VALUE_CHARS} characters")
    return value


def tenant_store(backend: object | None = None) -> TenantSecretsBackend:
    backend = backend if backend is not None else get_backend()
    if not isinstance(backend, TenantSecretsBackend):
        kind = getattr(backend, "kind", type(backend).__name__)
        raise SecretsReadOnly(
            f"the {kind} secrets backend keeps no per-tenant keys; set "
            "BIZOS_SECRETS_BACKEND=vault (with VAULT_ADDR and VAULT_TOKEN or AppRole "
            "credentials) to store a tenant's own provider keys"
        )
    return backend


def put_key(tenant: str, name: str, value: str, *, backend: object | None = None) -> None:
    tenant_store(backend).put_for_tenant(tenant, check_name(name), check_value(value))


def delete_key(tenant: str, name: str, *, backend: object | None = None) -> bool:
    return tenant_store(backend).delete_for_tenant(tenant, check_name(name))


def key_names(tenant: str, *, backend: object | None = None) -> list[str]:
    return tenant_store(backend).names_for_tenant(tenant)
