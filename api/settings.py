"""The API process's settings: one pydantic-settings class, read from the environment (and
`.env`) once. Production mode refuses placeholder secrets."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.redis_conn import RedisSettings

PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "placeholder", "xxx"})


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZOS_API_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="refused past it: 413")
    wait_timeout_s: float = Field(
        default=20.0, gt=0, le=120, description="longest `wait=true` holds a request"
    )
    rpc_timeout_s: float = Field(default=10.0, gt=0, description="every call into Temporal")
    production: bool = False
    webhook_signing_secret: str = Field(default="", repr=False)
    redis: RedisSettings = Field(
        default_factory=RedisSettings,
        description="rate limits and idempotency records (BIZOS_REDIS_URL etc., see "
        "api.redis_conn)",
    )

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> ApiSettings:
        if self.production and self.webhook_signing_secret.strip().lower() in PLACEHOLDERS:
            raise ValueError(
                "BIZOS_API_WEBHOOK_SIGNING_SECRET is unset or a placeholder; production mode "
                "refuses to start without a real secret"
            )
        return self
