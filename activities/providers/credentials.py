"""Provider credentials from the secrets store. Light: no SDK imports."""

from __future__ import annotations

from activities.providers.refs import ProviderRef
from activities.secrets import get_secret


def api_key_for(ref: ProviderRef) -> str | None:
    for name in ref.key_secrets():
        value = get_secret(name)
        if value:
            return value
    return None


def is_configured(ref: ProviderRef) -> bool:
    if ref.provider == "offline":
        return True
    if ref.provider == "openai_compatible":
        return True  # a base_url is enough; such servers often need no key
    return api_key_for(ref) is not None
