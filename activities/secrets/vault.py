"""The Vault backend: HashiCorp Vault KV v2 through hvac.

Where secrets live (mount ``BIZOS_VAULT_MOUNT``, default ``secret``; prefix
``BIZOS_VAULT_PATH_PREFIX``, default ``bizos``), one key per secret name::

    <prefix>/platform                      OPENAI_API_KEY, SEMRUSH_API_KEY, ... (the platform's)
    <prefix>/tenants/<tenant>/providers    OPENAI_API_KEY, ... (a tenant's own provider keys)

Reads go through the last-known-good cache (`cache.py`): fresh values are served without a
Vault call; while Vault is unreachable, values read within ``BIZOS_SECRETS_CACHE_SECONDS``
are served; after that a read raises `SecretsUnavailable` naming the secret (retryable).

Blocking: every method here may make HTTP calls and blocks the calling thread. Async code
calls them through ``asyncio.to_thread``; CrewAI's tool and model threads call them directly.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from activities.secrets.cache import LastKnownGood
from activities.secrets.errors import InvalidSecretName, SecretsError, SecretsUnavailable
from activities.secrets.settings import SecretsSettings
from activities.secrets.vault_auth import TokenKeeper, VaultAuth, VaultUnreachable
from store.records import TENANT_ID_PATTERN

if TYPE_CHECKING:
    import hvac

log = logging.getLogger("bizos.secrets")
_TENANT = re.compile(TENANT_ID_PATTERN)
CAS_ATTEMPTS = 3  # concurrent writers of one tenant's path: re-read and write again


class VaultSecrets:
    kind = "vault"

    def __init__(
        self, settings: SecretsSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.auth = VaultAuth(settings, clock=clock)
        self._cache = LastKnownGood(
            keep_s=settings.cache_seconds, refresh_s=settings.refresh_seconds, clock=clock
        )
        self._clock = clock
        self._fetch = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""
        self._keeper: TokenKeeper | None = None

    # paths
    @property
    def platform_path(self) -> str:
        return f"{self.settings.path_prefix.strip('/')}/platform"

    def tenant_path(self, tenant: str) -> str:
        if not _TENANT.match(tenant):
            raise InvalidSecretName(f"tenant {tenant!r} is not a valid tenant id")
        return f"{self.settings.path_prefix.strip('/')}/tenants/{tenant}/providers"

    # reads (the SecretsBackend protocol)
    def get(self, name: str) -> str | None:
        return self._read(self.platform_path, name).get(name) or None

    def get_for_tenant(self, tenant: str, name: str) -> str | None:
        return self._read(self.tenant_path(tenant), name).get(name) or None

    def _read(self, path: str, name: str) -> dict[str, str]:
        values = self._cache.fresh(path)
        if values is not None:
            return values
        with self._fetch:  # one Vault read per path at a time; the others wait for it
            values = self._cache.fresh(path)
            if values is not None:
                return values
            if self._clock() < self._down_until:
                return self._fallback(path, name, self._down_reason)
            started = self._clock()
            try:
                values = self.auth.call(lambda client: _read_kv(client, self.settings.mount, path))
            except VaultUnreachable as e:
                # Back off as long as the failure took: a refused connection (instant) is
                # retried at once, a timeout is not waited out by every caller in turn.
                self._down_until = self._clock() + (self._clock() - started)
                self._down_reason = str(e)
                return self._fallback(path, name, str(e))
            self._down_until = 0.0
            self._cache.put(path, values)
            return values

    def _fallback(self, path: str, name: str, reason: str) -> dict[str, str]:
        values = self._cache.usable(path)
        if values is not None:
            log.warning("Vault is unreachable (%s); using the last-known-good %s", reason, path)
            return values
        raise SecretsUnavailable(
            name,
            f"Vault at {self.settings.vault_addr} is unreachable ({reason}) and no value read "
            f"in the last {self.settings.cache_seconds:g}s is cached; retry when Vault "
            "answers again",
        )

    # a tenant's own keys (write-only from the outside: names are listed, values never)
    def put_for_tenant(self, tenant: str, name: str, value: str) -> None:
        self._change(self.tenant_path(tenant), name, lambda data: data.update({name: value}))

    def delete_for_tenant(self, tenant: str, name: str) -> bool:
        found: list[bool] = []
        self._change(
            self.tenant_path(tenant),
            name,
            lambda data: found.append(data.pop(name, None) is not None),
        )
        return bool(found and found[-1])

    def names_for_tenant(self, tenant: str) -> list[str]:
        path = self.tenant_path(tenant)
        try:  # never from the cache: an admin asking wants what Vault holds now
            data = self.auth.call(lambda client: _read_kv(client, self.settings.mount, path))
        except VaultUnreachable as e:
            raise self._unreachable(path, e) from None
        return sorted(data)

    def _unreachable(self, what: str, e: VaultUnreachable) -> SecretsUnavailable:
        return SecretsUnavailable(what, f"Vault at {self.settings.vault_addr} is unreachable ({e})")

    def _change(self, path: str, name: str, edit: Callable[[dict[str, str]], Any]) -> None:
        import hvac.exceptions as hx

        mount = self.settings.mount

        def write(client: hvac.Client) -> None:
            for _ in range(CAS_ATTEMPTS):
                data, version = _read_versioned(client, mount, path)
                before = dict(data)
                edit(data)
                if data == before:
                    return
                try:
                    if data:
                        client.secrets.kv.v2.create_or_update_secret(
                            path=path, secret=data, cas=version, mount_point=mount
                        )
                    else:  # nothing left: no empty versions lying around
                        client.secrets.kv.v2.delete_metadata_and_all_versions(
                            path=path, mount_point=mount
                        )
                    return
                except hx.InvalidRequest as e:
                    if "check-and-set" not in str(e):
                        raise
            raise SecretsError(f"{path} was changed concurrently too often; try again")

        try:
            self.auth.call(write)
        except VaultUnreachable as e:
            raise self._unreachable(name, e) from None
        self._cache.forget(path)  # this process sees its own write at once

    # lifecycle
    def start_keeper(self) -> None:
        """Keep the token renewed from a background thread (worker and API processes)."""
        if self._keeper is None:
            self._keeper = TokenKeeper(self.auth).start()

    def close(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None


def _read_versioned(
    client: hvac.Client, mount: str, path: str
) -> tuple[dict[str, str], int | None]:
    import hvac.exceptions as hx

    try:
        resp: Any = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True
        )
    except hx.InvalidPath:
        return {}, None  # never written (or deleted): the first write needs no check-and-set
    data = resp["data"].get("data") or {}
    version = (resp["data"].get("metadata") or {}).get("version")
    return {str(k): str(v) for k, v in data.items() if v is not None}, version


def _read_kv(client: hvac.Client, mount: str, path: str) -> dict[str, str]:
    return _read_versioned(client, mount, path)[0]
