"""Requests per minute per tenant and per API key, shared by every API replica.

`await limiter.hit(tenant, key_id)` counts one request against both limits and returns a
:class:`Decision`; a refused one carries how long to wait (``Retry-After``).

* Counting is the `limits` library's moving window (exact: a log of timestamps per limit,
  trimmed and appended by one Lua script), in Redis (``limits.aio.storage.RedisStorage``
  on the API's own connection, :mod:`api.redis_conn`) so N replicas share one count; the
  in-process ``MemoryStorage`` only when no Redis is configured (single node, said at start).
* The key's limit is hit first; when it refuses, the tenant's count is left untouched. A
  request that the key admits but the tenant refuses still counts against its key (the two
  hits are separate scripts): conservative, never over-admitting.
* Limits per tenant: the settings' defaults, overridden per tenant with
  :meth:`RateLimiter.set_tenant_limits` or looked up by an async ``resolver`` (e.g. the
  store's tenant config). Changing a tenant's limit starts a fresh window (the limit is
  part of the counter's key).
* Redis configured but unreachable → :class:`LimitsUnavailable` within the backend's
  deadline (2x BIZOS_REDIS_TIMEOUT_S), never a hang and never an unchecked admit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from api.redis_conn import LimitsUnavailable, RedisBackend, guarded

__all__ = ["Decision", "LimitsUnavailable", "RateLimiter", "TenantLimits"]

Scope = Literal["tenant", "key"]


@dataclass(frozen=True)
class TenantLimits:
    per_tenant_per_minute: int
    per_key_per_minute: int

    def __post_init__(self) -> None:
        if self.per_tenant_per_minute < 1 or self.per_key_per_minute < 1:
            raise ValueError("rate limits must be at least 1 request per minute")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float  # 0 when allowed; else until the binding window frees a slot
    remaining: int  # requests left in the binding window after this one
    limit: int  # the binding limit (requests per minute)
    scope: Scope = "key"  # which limit binds: the refusing one, or the one with less left

    def headers(self) -> dict[str, str]:
        """`RateLimit-*` headers, plus `Retry-After` (whole seconds, ≥ 1) when refused."""
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return out


Resolver = Callable[[str], Awaitable[TenantLimits | None]]


class RateLimiter:
    """Per-tenant and per-key request limits (see the module docstring)."""

    def __init__(
        self,
        client: aioredis.Redis | None,
        *,
        defaults: TenantLimits,
        overrides: Mapping[str, TenantLimits] | None = None,
        resolver: Resolver | None = None,
        key_prefix: str = "bizos",
        deadline_s: float = 1.0,
    ) -> None:
        self.defaults = defaults
        self._overrides: dict[str, TenantLimits] = dict(overrides or {})
        self._resolver = resolver
        self._deadline_s = deadline_s
        self._client = client
        self._storage: RedisStorage | MemoryStorage | None = None
        self._key_prefix = f"{key_prefix}:limits"
        if client is not None:
            # The library's Redis storage on our pool: same timeouts, no second connection.
            self._storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=self._key_prefix,
                connection_pool=client.connection_pool,  # type: ignore[arg-type]
            )
        self._strategy: MovingWindowRateLimiter | None = None

    @classmethod
    def from_backend(
        cls,
        backend: RedisBackend,
        *,
        overrides: Mapping[str, TenantLimits] | None = None,
        resolver: Resolver | None = None,
    ) -> RateLimiter:
        s = backend.settings
        return cls(
            backend.client,
            defaults=TenantLimits(s.rate_limit_tenant_per_minute, s.rate_limit_key_per_minute),
            overrides=overrides,
            resolver=resolver,
            key_prefix=s.redis_key_prefix,
            deadline_s=s.deadline_s,
        )

    @property
    def shared(self) -> bool:
        """True when the counts live in Redis (every replica sees them)."""
        return self._client is not None

    async def ping(self) -> None:
        """For readiness: raise `LimitsUnavailable` when the shared store does not answer."""
        if self._client is None:
            return
        async with guarded("a readiness ping", self._deadline_s):
            await self._client.ping()  # type: ignore[misc]  # redis-py types sync + async

    @property
    def description(self) -> str:
        if self.shared:
            return "rate limits in Redis (moving window, shared by every replica)"
        return "rate limits in-process (moving window, single node only)"

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._strategy is None:
            if self._storage is None:
                # Made lazily: MemoryStorage wants a running event loop for its expiry task.
                self._storage = MemoryStorage()
            self._strategy = MovingWindowRateLimiter(self._storage)
        return self._strategy

    def set_tenant_limits(self, tenant: str, limits: TenantLimits | None) -> None:
        """Give a tenant its own limits (None: back to the defaults)."""
        if limits is None:
            self._overrides.pop(tenant, None)
        else:
            self._overrides[tenant] = limits

    async def limits_for(self, tenant: str) -> TenantLimits:
        if tenant in self._overrides:
            return self._overrides[tenant]
        if self._resolver is not None:
            found = await self._resolver(tenant)
            if found is not None:
                return found
        return self.defaults

    @staticmethod
    def _items(limits: TenantLimits) -> tuple[RateLimitItem, RateLimitItem]:
        return (
            RateLimitItemPerMinute(limits.per_tenant_per_minute),
            RateLimitItemPerMinute(limits.per_key_per_minute),
        )

    async def hit(self, tenant: str, key_id: str) -> Decision:
        """Count one request of `key_id` (an API key's id) of `tenant`."""
        tenant_item, key_item = self._items(await self.limits_for(tenant))
        tenant_ids = ("t", tenant)
        key_ids = ("k", tenant, key_id)
        limiter = self._limiter()
        async with guarded("rate limit", self._deadline_s):
            if not await limiter.hit(key_item, *key_ids):
                return await self._refused(limiter, key_item, key_ids, "key")
            if not await limiter.hit(tenant_item, *tenant_ids):
                return await self._refused(limiter, tenant_item, tenant_ids, "tenant")
            t_stats, k_stats = await asyncio.gather(
                limiter.get_window_stats(tenant_item, *tenant_ids),
                limiter.get_window_stats(key_item, *key_ids),
            )
        if t_stats.remaining < k_stats.remaining:
            return Decision(True, 0.0, t_stats.remaining, tenant_item.amount, "tenant")
        return Decision(True, 0.0, k_stats.remaining, key_item.amount, "key")

    @staticmethod
    async def _refused(
        limiter: MovingWindowRateLimiter, item: RateLimitItem, ids: tuple[str, ...], scope: Scope
    ) -> Decision:
        stats = await limiter.get_window_stats(item, *ids)
        wait = max(0.0, stats.reset_time - time.time())
        return Decision(False, round(wait, 3), 0, item.amount, scope)

    async def reset(self, tenant: str, key_id: str | None = None) -> None:
        """Forget the counts of a tenant (and of one of its keys), e.g. after raising a limit."""
        tenant_item, key_item = self._items(await self.limits_for(tenant))
        limiter = self._limiter()
        async with guarded("rate limit reset", self._deadline_s):
            await limiter.clear(tenant_item, "t", tenant)
            if key_id is not None:
                await limiter.clear(key_item, "k", tenant, key_id)
