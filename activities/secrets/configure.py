"""Installing the configured backend at process start (workers, the API)."""

from __future__ import annotations

import logging

from activities.secrets import SecretsBackend, get_backend, set_backend
from activities.secrets.env import EnvSecrets
from activities.secrets.settings import SecretsSettings

log = logging.getLogger("bizos.secrets")


def build_backend(settings: SecretsSettings) -> SecretsBackend:
    if settings.backend == "vault":
        from activities.secrets.vault import VaultSecrets

        return VaultSecrets(settings)
    return EnvSecrets()


def install_configured_backend(
    settings: SecretsSettings | None = None, *, keep_token_alive: bool = True
) -> SecretsBackend:
    """Build the backend `settings` (default: the environment) names, install it and return
    it. With Vault, checks the credentials now (a login, blocking), so a process that cannot
    read its secrets fails at start with the reason, not at its first step; and keeps the
    token renewed from a background thread."""
    settings = settings or SecretsSettings()
    previous = get_backend()
    close = getattr(previous, "close", None)
    backend = build_backend(settings)
    if settings.backend == "vault":
        from activities.secrets.vault import VaultSecrets

        assert isinstance(backend, VaultSecrets)
        backend.auth.call(lambda client: None)  # log in now: wrong credentials fail here
        if keep_token_alive:
            backend.start_keeper()
        log.info(
            "secrets from Vault %s (mount %s, prefix %s)",
            settings.vault_addr,
            settings.mount,
            settings.path_prefix,
        )
    set_backend(backend)
    if callable(close):
        close()
    return backend
