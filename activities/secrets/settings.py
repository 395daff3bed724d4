"""The secrets layer's settings: one pydantic-settings class, read from the environment (and
`.env`) once per process. Vault's own variable names (`VAULT_ADDR`, `VAULT_TOKEN`, ...) are
used where Vault has them, so the `vault` CLI and the workers share them.

Production mode (`BIZOS_PRODUCTION=true`, or the API's `BIZOS_API_PRODUCTION`) refuses
placeholder credentials, so a deployment cannot start on `changeme` or a dev server's root
token."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "secret", "placeholder", "xxx", "root", "dev", "token", "test"}
)


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class SecretsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    backend: Literal["env", "vault"] = Field(
        default="env", validation_alias=_env("BIZOS_SECRETS_BACKEND")
    )
    vault_addr: str = Field(default="http://127.0.0.1:8200", validation_alias=_env("VAULT_ADDR"))
    vault_token: SecretStr | None = Field(
        default=None, repr=False, validation_alias=_env("VAULT_TOKEN")
    )
    vault_role_id: str | None = Field(default=None, validation_alias=_env("VAULT_ROLE_ID"))
    vault_secret_id: SecretStr | None = Field(
        default=None, repr=False, validation_alias=_env("VAULT_SECRET_ID")
    )
    vault_approle_mount: str = Field(
        default="approle",
        validation_alias=_env("BIZOS_VAULT_APPROLE_MOUNT"),
    )
    vault_namespace: str | None = Field(default=None, validation_alias=_env("VAULT_NAMESPACE"))
    vault_cacert: str | None = Field(default=None, validation_alias=_env("VAULT_CACERT"))
    mount: str = Field(default="secret", validation_alias=_env("BIZOS_VAULT_MOUNT"))
    path_prefix: str = Field(default="bizos", validation_alias=_env("BIZOS_VAULT_PATH_PREFIX"))
    cache_seconds: float = Field(
        default=600.0,
        ge=0,
        description="how long a last-known-good value is served while Vault is unreachable",
        validation_alias=_env("BIZOS_SECRETS_CACHE_SECONDS"),
    )
    refresh_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how long a value read from Vault is served before Vault is asked again "
        "(a rotation is picked up within this)",
        validation_alias=_env("BIZOS_SECRETS_REFRESH_SECONDS"),
    )
    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="each HTTP call to Vault",
        validation_alias=_env("BIZOS_VAULT_TIMEOUT_SECONDS"),
    )
    production: bool = Field(
        default=False,
        validation_alias=_env("BIZOS_PRODUCTION", "BIZOS_API_PRODUCTION"),
    )

    @property
    def uses_approle(self) -> bool:
        return bool(self.vault_role_id and self.vault_secret_id)

    @model_validator(mode="after")
    def _usable(self) -> SecretsSettings:
        if self.backend != "vault":
            return self
        if not self.uses_approle and self.vault_token is None:
            raise ValueError(
                "BIZOS_SECRETS_BACKEND=vault needs credentials: VAULT_TOKEN, or VAULT_ROLE_ID "
                "and VAULT_SECRET_ID (AppRole)"
            )
        if self.production:
            for name, value in (
                ("VAULT_TOKEN", self.vault_token),
                ("VAULT_SECRET_ID", self.vault_secret_id),
            ):
                if value is not None and _placeholder(value.get_secret_value()):
                    raise ValueError(
                        f"{name} is a placeholder; production mode refuses to start without "
                        "a real Vault credential"
                    )
        return self


def _placeholder(value: str) -> bool:
    return value.strip().lower() in PLACEHOLDERS or not value.strip()
