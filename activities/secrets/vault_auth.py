"""The Vault client and its token's life: token or AppRole login, `renew-self` before the
token expires, a fresh AppRole login when renewal is refused or the token was revoked.

Everything here blocks (hvac is synchronous, over `requests`): call it from a worker thread
(`asyncio.to_thread` in async code), never on an event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from activities.secrets.settings import SecretsSettings

if TYPE_CHECKING:
    import hvac

log = logging.getLogger("bizos.secrets")
T = TypeVar("T")

RENEW_AT = 2 / 3
"""Renew once this share of the token's TTL has passed: early enough that a slow or failed
renewal still leaves time for another try (or an AppRole login) before it expires."""


class VaultUnreachable(Exception):
    """Vault could not be used: no connection, a timeout, 5xx or sealed, rate-limited, or it
    refused our credentials. The message says which; running work falls back to the cache."""


class VaultAuth:
    def __init__(
        self,
        settings: SecretsSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.RLock()
        self._client: hvac.Client | None = None
        self._issued_at = 0.0
        self._ttl_s = 0.0  # 0: the token never expires (no renewal needed)
        self._renewable = False
        self.logins = 0
        self.renewals = 0

    # the client, authenticated and kept alive
    def call(self, fn: Callable[[hvac.Client], T]) -> T:
        """`fn(client)` with a live token. Connection problems, 5xx and a refused token
        become `VaultUnreachable`; with AppRole a 403 gets one fresh login and one retry
        (the token was revoked or expired while the process was idle)."""
        import hvac.exceptions as hx
        import requests

        try:
            try:
                return fn(self.client())
            except hx.Forbidden:
                if not self.settings.uses_approle:
                    raise
                with self._lock:
                    self._login()
                return fn(self.client())
        except hx.Forbidden as e:
            raise VaultUnreachable(f"Vault refused the token ({_first_line(e)})") from None
        except (requests.ConnectionError, requests.Timeout) as e:
            raise VaultUnreachable(
                f"cannot reach {self.settings.vault_addr}: {type(e).__name__}"
            ) from None
        except hx.VaultError as e:  # 5xx, sealed, 429, a refused login (InvalidRequest) ...
            raise VaultUnreachable(f"Vault answered {type(e).__name__}: {_first_line(e)}") from None

    def client(self) -> hvac.Client:
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
                try:
                    self._login()
                except BaseException:
                    self._client = None  # log in afresh next time, not with half a login
                    raise
            elif self._renewal_due():
                self._renew()
            return self._client

    def keep_alive(self) -> float:
        """Renew when due; returns how long until the next check (background keeper)."""
        self.call(lambda client: None)
        with self._lock:
            if self._ttl_s <= 0:
                return 300.0
            return max(1.0, self._ttl_s * (1 - RENEW_AT) / 2)

    # login and renewal
    def _new_client(self) -> hvac.Client:
        import hvac

        s = self.settings
        return hvac.Client(
            url=s.vault_addr,
            timeout=s.timeout_seconds,  # type: ignore[arg-type]  # hvac takes a float too
            verify=s.vault_cacert or True,
            namespace=s.vault_namespace,
        )

    def _login(self) -> None:
        assert self._client is not None
        s = self.settings
        if s.uses_approle:
            assert s.vault_role_id and s.vault_secret_id
            resp: Any = self._client.auth.approle.login(
                role_id=s.vault_role_id,
                secret_id=s.vault_secret_id.get_secret_value(),
                mount_point=s.vault_approle_mount,
            )  # hvac keeps the new token on the client
            self._lease(resp["auth"]["lease_duration"], resp["auth"].get("renewable", False))
            log.info("logged in to Vault with AppRole (token TTL %ss)", int(self._ttl_s))
        else:
            assert s.vault_token is not None
            self._client.token = s.vault_token.get_secret_value()
            data = self._client.auth.token.lookup_self()["data"]
            self._lease(data.get("ttl") or 0, data.get("renewable", False))
        self.logins += 1

    def _renew(self) -> None:
        import hvac.exceptions as hx

        assert self._client is not None
        if self._renewable:
            try:
                resp: Any = self._client.auth.token.renew_self()
                ttl = resp["auth"]["lease_duration"]
                if ttl > 0:
                    self._lease(ttl, resp["auth"].get("renewable", False))
                    self.renewals += 1
                    return
            except (hx.Forbidden, hx.InvalidRequest) as e:
                log.warning("Vault refused to renew the token: %s", _first_line(e))
        if self.settings.uses_approle:
            self._login()  # refused or past its max TTL: a new token
            return
        # A plain token that cannot be renewed lives until it expires; say so once per TTL.
        log.warning(
            "the Vault token cannot be renewed and expires in %ss; give the workers a "
            "renewable token or AppRole credentials (VAULT_ROLE_ID, VAULT_SECRET_ID)",
            int(max(0.0, self._issued_at + self._ttl_s - self._clock())),
        )
        self._issued_at = self._clock()
        self._ttl_s = 0.0

    def _lease(self, ttl_s: float, renewable: bool) -> None:
        self._issued_at = self._clock()
        self._ttl_s = float(ttl_s)
        self._renewable = bool(renewable)

    def _renewal_due(self) -> bool:
        return self._ttl_s > 0 and self._clock() - self._issued_at >= self._ttl_s * RENEW_AT


class TokenKeeper:
    """A daemon thread that keeps the token alive in an idle process (a worker waiting for
    work would otherwise let a short-TTL token expire between steps)."""

    def __init__(self, auth: VaultAuth) -> None:
        self._auth = auth
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vault-token-keeper", daemon=True)

    def start(self) -> TokenKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                wait = self._auth.keep_alive()
            except Exception as e:  # an outage: reads fall back to the cache meanwhile
                log.warning("keeping the Vault token alive failed: %s", _first_line(e))
                wait = 10.0


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
