"""The Vault backend against the Vault test double (tests/production/vault_double.py), with
the real hvac client: token and AppRole auth, renewal before expiry, a fresh AppRole login
when renewal is refused or the token revoked, per-tenant provider keys before the
platform's, and the last-known-good cache through an outage. Time moves on a fake clock
shared by the double and the client: no sleeping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from temporalio.exceptions import ApplicationError

from activities import secrets
from activities.providers.credentials import api_key_for, is_configured
from activities.providers.refs import ProviderRef
from activities.secrets import SecretsUnavailable, tenant_keys
from activities.secrets.settings import SecretsSettings
from activities.secrets.vault import VaultSecrets
from tests.production.vault_double import FakeClock, VaultDouble

PLATFORM = "bizos/platform"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault(clock: FakeClock) -> Iterator[VaultDouble]:
    double = VaultDouble(clock=clock).start()
    double.put(PLATFORM, {"OPENAI_API_KEY": "platform-openai", "GOOGLE_API_KEY": "platform-g"})
    yield double
    double.stop()


def backend(vault: VaultDouble, clock: FakeClock, **settings: object) -> VaultSecrets:
    values: dict[str, object] = {"backend": "vault", "vault_addr": vault.addr, **settings}
    return VaultSecrets(SecretsSettings.model_validate(values), clock=clock)


@pytest.fixture
def installed(vault: VaultDouble, clock: FakeClock) -> Iterator[VaultSecrets]:
    """The Vault backend installed process-wide, as a worker installs it."""
    b = backend(vault, clock, vault_token=vault.add_token(0), refresh_seconds=0)
    previous = secrets.set_backend(b)
    yield b
    secrets.set_backend(previous)


def test_token_auth_renews_before_expiry_and_keeps_reading(
    vault: VaultDouble, clock: FakeClock
) -> None:
    b = backend(vault, clock, vault_token=vault.add_token(60), refresh_seconds=0)
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    clock.advance(45)  # past 2/3 of the TTL: the next call renews first
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    assert vault.served("POST", "/v1/auth/token/renew-self") == 1
    clock.advance(45)  # 90 s after issue: alive only because it was renewed
    vault.put(PLATFORM, {"OPENAI_API_KEY": "rotated"})
    assert b.get("OPENAI_API_KEY") == "rotated"
    assert b.auth.logins == 1 and b.auth.renewals == 2


def test_a_non_expiring_token_is_never_renewed(vault: VaultDouble, clock: FakeClock) -> None:
    b = backend(vault, clock, vault_token=vault.add_token(0), refresh_seconds=0)
    clock.advance(10_000)
    assert b.get("GOOGLE_API_KEY") == "platform-g"
    assert vault.served("POST", "/v1/auth/token/renew-self") == 0


def test_approle_logs_in_renews_and_logs_in_again_when_renewal_is_refused(
    vault: VaultDouble, clock: FakeClock
) -> None:
    role_id, secret_id = vault.add_approle(ttl_s=60)
    b = backend(vault, clock, vault_role_id=role_id, vault_secret_id=secret_id, refresh_seconds=0)
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    assert b.auth.logins == 1
    clock.advance(41)
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    assert (b.auth.logins, b.auth.renewals) == (1, 1)
    vault.refuse_renewals = True
    clock.advance(41)
    assert b.get("OPENAI_API_KEY") == "platform-openai"  # renewal refused: logged in anew
    assert b.auth.logins == 2
    assert vault.served("POST", "/v1/auth/approle/login") == 2


def test_approle_logs_in_again_when_its_token_was_revoked(
    vault: VaultDouble, clock: FakeClock
) -> None:
    role_id, secret_id = vault.add_approle(ttl_s=3600)
    b = backend(vault, clock, vault_role_id=role_id, vault_secret_id=secret_id, refresh_seconds=0)
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    vault.revoke_all()
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    assert b.auth.logins == 2


def test_wrong_approle_credentials_fail_at_install_naming_the_cause(vault: VaultDouble) -> None:
    from activities.secrets.configure import install_configured_backend
    from activities.secrets.vault_auth import VaultUnreachable

    role_id, _ = vault.add_approle()
    settings = SecretsSettings.model_validate(
        {
            "backend": "vault",
            "vault_addr": vault.addr,
            "vault_role_id": role_id,
            "vault_secret_id": "wrong",
        }
    )
    before = secrets.get_backend()
    with pytest.raises(VaultUnreachable, match="InvalidRequest: invalid role or secret ID"):
        install_configured_backend(settings, keep_token_alive=False)
    assert secrets.get_backend() is before  # nothing half-installed


def test_tenant_key_wins_over_the_platform_key(installed: VaultSecrets) -> None:
    openai = ProviderRef(provider="openai", model="gpt-4o-mini")
    gemini = ProviderRef(provider="gemini", model="gemini-2.0-flash")
    tenant_keys.put_key("acme", "OPENAI_API_KEY", "acme-openai")
    tenant_keys.put_key("acme", "GEMINI_API_KEY", "acme-gemini")
    assert api_key_for(openai, "acme") == "acme-openai"
    assert api_key_for(openai, "globex") == "platform-openai"  # no keys of its own
    assert api_key_for(openai) == "platform-openai"
    # the tenant's second name beats the platform's first
    assert api_key_for(gemini, "acme") == "acme-gemini"
    assert tenant_keys.key_names("acme") == ["GEMINI_API_KEY", "OPENAI_API_KEY"]
    assert tenant_keys.delete_key("acme", "OPENAI_API_KEY")
    assert api_key_for(openai, "acme") == "platform-openai"
    assert not is_configured(ProviderRef(provider="anthropic", model="x"), "acme")


def test_tenant_keys_refuse_other_names_and_bad_tenants(installed: VaultSecrets) -> None:
    with pytest.raises(secrets.InvalidSecretName, match="not a provider key name"):
        tenant_keys.put_key("acme", "SEMRUSH_TOKEN", "x")
    with pytest.raises(secrets.InvalidSecretName, match="not a valid tenant"):
        tenant_keys.put_key("../platform", "OPENAI_API_KEY", "x")


def test_env_backend_refuses_tenant_keys_saying_what_to_configure() -> None:
    with pytest.raises(secrets.SecretsReadOnly, match="BIZOS_SECRETS_BACKEND=vault"):
        tenant_keys.put_key("acme", "OPENAI_API_KEY", "x", backend=secrets.EnvSecrets())


def test_outage_is_served_from_cache_then_fails_retryable_naming_the_secret(
    vault: VaultDouble, clock: FakeClock
) -> None:
    b = backend(vault, clock, vault_token=vault.add_token(0), cache_seconds=600, refresh_seconds=30)
    assert b.get_for_tenant("acme", "OPENAI_API_KEY") is None
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    vault.down()
    clock.advance(300)  # past the refresh interval: Vault is asked, fails, cache serves
    assert b.get("OPENAI_API_KEY") == "platform-openai"
    assert b.get_for_tenant("acme", "OPENAI_API_KEY") is None
    clock.advance(301)  # past 10 minutes since the last good read
    with pytest.raises(SecretsUnavailable) as caught:
        b.get("OPENAI_API_KEY")
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message and "unreachable" in message and vault.addr in message
    assert "platform-openai" not in message
    error = caught.value.as_application_error()
    assert isinstance(error, ApplicationError) and not error.non_retryable
    assert error.type == "SecretsUnavailable"
    vault.up()  # back: the next read goes to Vault again
    assert b.get("OPENAI_API_KEY") == "platform-openai"


def test_production_mode_refuses_placeholder_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIZOS_SECRETS_BACKEND", "vault")
    monkeypatch.setenv("VAULT_TOKEN", "changeme")
    monkeypatch.setenv("BIZOS_PRODUCTION", "true")
    with pytest.raises(ValueError, match="VAULT_TOKEN is a placeholder"):
        SecretsSettings()
    monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(ValueError, match="needs credentials"):
        SecretsSettings()


def test_a_worker_that_cannot_log_in_to_vault_exits_non_zero_naming_it(
    vault: VaultDouble,
) -> None:
    """Fail closed at start: a worker without its secrets would fail every step later."""
    import os
    import subprocess
    import sys

    role_id, _ = vault.add_approle()
    env = dict(
        os.environ,
        BIZOS_SECRETS_BACKEND="vault",
        VAULT_ADDR=vault.addr,
        VAULT_ROLE_ID=role_id,
        VAULT_SECRET_ID="revoked-secret-id",
    )
    env.pop("VAULT_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, "-m", "starters.cli", "worker", "--pool", "system"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "configuring secrets" in proc.stderr + proc.stdout
    assert "invalid role or secret ID" in proc.stderr + proc.stdout
    assert "revoked-secret-id" not in proc.stderr + proc.stdout
