"""Provider credentials from the secrets store. Light: no SDK imports.

A step's tenant may bring its own keys: every key name of the link is looked up in the
tenant's own secrets first, then the platform's (see docs/secrets.md). With the Vault
backend these functions block on HTTP: call them from a worker thread, not an event loop."""

from __future__ import annotations

from activities.providers.refs import ProviderRef
from activities.secrets import get_secret, get_tenant_secret


def api_key_for(ref: ProviderRef, tenant: str | None = None) -> str | None:
    names = ref.key_secrets()
    if tenant is not None:
        # All of the tenant's names before any platform one: a tenant's GEMINI_API_KEY
        # beats the platform's GOOGLE_API_KEY.
        for name in names:
            value = get_tenant_secret(tenant, name)
            if value:
                return value
    for name in names:
        value = get_secret(name)
        if value:
            return value
    return None


def is_configured(ref: ProviderRef, tenant: str | None = None) -> bool:
    if ref.provider == "offline":
        return True
    if ref.provider == "openai_compatible":
        return True  # a base_url is enough; such servers often need no key
    return api_key_for(ref, tenant) is not None
