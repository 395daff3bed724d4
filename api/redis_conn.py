"""The API's one Redis connection: rate limits and Idempotency-Key records shared by every
replica (DESIGN §7, §12).

Settings (environment or `.env`, prefix ``BIZOS_``):

* ``BIZOS_REDIS_URL`` — ``redis://[:password@]host:port/db`` (or ``rediss://``).
  - unset: the local default ``redis://127.0.0.1:6379/0`` *when it answers at start*;
    when it does not, limits and idempotency records are kept in-process (one node only)
    and the start says so (the embedded, single-machine mode of `bizos dev`).
  - set to a URL: Redis is required. If it is down, requests that need it fail fast with
    :class:`LimitsUnavailable` (the API answers 503 with ``Retry-After``); nothing falls
    back silently, because replicas with private in-process limits would each admit the
    full limit.
  - ``none``: no Redis at all; in-process limits and records, said at start.
* ``BIZOS_REDIS_TIMEOUT_S`` — socket connect/read timeout (default 0.5 s); every operation
  of :mod:`api.limits` and :mod:`api.idempotency` is additionally bounded by
  ``2x timeout`` in total, so a configured but dead (or black-holed) Redis never hangs a
  request.
* ``BIZOS_REDIS_KEY_PREFIX`` — prefix of every key written (default ``bizos``).
* ``BIZOS_RATE_LIMIT_TENANT_PER_MINUTE`` / ``BIZOS_RATE_LIMIT_KEY_PER_MINUTE`` — default
  requests per minute per tenant and per API key (tenants can be given their own).
* ``BIZOS_IDEMPOTENCY_TTL_S`` (default 24 h) — how long a finished response is replayed;
  ``BIZOS_IDEMPOTENCY_INFLIGHT_TTL_S`` (default 120 s) — the lease of a request in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("bizos.api.redis")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
NO_REDIS = "none"

# What "Redis is unreachable" looks like, as opposed to a bug in a command (ResponseError).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # refused, reset, BusyLoadingError
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a replica after a failover
    OSError,
    TimeoutError,  # asyncio.timeout's (the same class as asyncio.TimeoutError on 3.11)
)


class LimitsUnavailable(RuntimeError):
    """Redis is configured but cannot be reached: the API answers 503 with Retry-After
    rather than admitting a request it cannot count or deduplicate."""

    def __init__(self, detail: str, *, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZOS_", env_file=".env", extra="ignore")

    redis_url: str | None = Field(
        default=None,
        repr=False,  # may carry a password
        description=f"unset = {DEFAULT_REDIS_URL} if it answers at start, else in-process; "
        f"`{NO_REDIS}` = in-process only",
    )
    redis_timeout_s: float = Field(default=0.5, gt=0, le=10)
    redis_key_prefix: str = Field(default="bizos", min_length=1)
    rate_limit_tenant_per_minute: int = Field(default=600, ge=1)
    rate_limit_key_per_minute: int = Field(default=300, ge=1)
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)
    idempotency_inflight_ttl_s: int = Field(default=120, ge=1)

    @property
    def no_redis(self) -> bool:
        return (self.redis_url or "").strip().lower() == NO_REDIS

    @property
    def explicit(self) -> bool:
        """True when BIZOS_REDIS_URL names a Redis: then it is required, never skipped."""
        return bool(self.redis_url and self.redis_url.strip()) and not self.no_redis

    def url(self) -> str | None:
        if self.no_redis:
            return None
        return (self.redis_url or "").strip() or DEFAULT_REDIS_URL

    @property
    def deadline_s(self) -> float:
        """The most any one limits/idempotency operation may take before it is refused."""
        return 2 * self.redis_timeout_s


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def make_client(url: str, timeout_s: float = 0.5) -> aioredis.Redis:
    """An asyncio client that fails fast: short connect and read timeouts, and at most one
    immediate retry (which reconnects a pooled connection that Redis closed, e.g. after a
    restart) instead of redis-py's default of 3 retries with seconds of backoff."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


@asynccontextmanager
async def guarded(what: str, deadline_s: float) -> AsyncIterator[None]:
    """Run Redis calls within `deadline_s`; unreachable Redis → :class:`LimitsUnavailable`."""
    try:
        async with asyncio.timeout(deadline_s):
            yield
    except UNAVAILABLE_ERRORS as e:
        raise LimitsUnavailable(
            f"Redis is unreachable ({what}): {type(e).__name__}: {e or 'timed out'}"
        ) from e


@dataclass
class RedisBackend:
    """Where limits and idempotency records live: `client` is None for in-process."""

    client: aioredis.Redis | None
    settings: RedisSettings
    message: str

    @property
    def shared(self) -> bool:
        """True when every replica sees the same limits and records (Redis)."""
        return self.client is not None

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()


async def ping(client: aioredis.Redis, deadline_s: float) -> None:
    async with guarded("ping", deadline_s):
        await client.ping()  # type: ignore[misc]  # redis-py types sync and async as one


async def open_backend(settings: RedisSettings | None = None) -> RedisBackend:
    """Decide, once at start, where limits and records live, and log it (see the module
    docstring). Never raises for an unreachable Redis: an explicitly configured one that is
    down is kept (it reconnects by itself) and each request that needs it gets
    :class:`LimitsUnavailable` until it is back."""
    settings = settings or RedisSettings()
    url = settings.url()
    if url is None:
        message = (
            "BIZOS_REDIS_URL=none: rate limits and idempotency records are kept in-process "
            "(single node only: replicas would not share them)"
        )
        log.warning(message)
        return RedisBackend(None, settings, message)
    client = make_client(url, settings.redis_timeout_s)
    try:
        await ping(client, settings.deadline_s)
    except LimitsUnavailable as e:
        if not settings.explicit:
            await client.aclose()
            message = (
                f"no Redis answers at {redact(url)} (BIZOS_REDIS_URL unset): rate limits and "
                "idempotency records are kept in-process (single node only: replicas would "
                f"not share them) — {e.detail}"
            )
            log.warning(message)
            return RedisBackend(None, settings, message)
        message = (
            f"Redis at {redact(url)} (BIZOS_REDIS_URL) is unreachable: requests that need "
            f"rate limits or idempotency answer 503 until it is back — {e.detail}"
        )
        log.error(message)
        return RedisBackend(client, settings, message)
    message = (
        f"rate limits and idempotency records in Redis at {redact(url)} "
        "(shared by every API replica)"
    )
    log.info(message)
    return RedisBackend(client, settings, message)
