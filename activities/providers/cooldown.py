"""Rate-limit cooldowns shared by every step of a worker process.

A provider's 429 + Retry-After speaks about the caller (the key, the account), not about
one agent step: while it runs, every step of the process that would call the same provider
with the same credentials must skip it, or each concurrent step pays its own 429 and keeps
the provider's limiter hot. So the cooldown lives here, keyed by what the provider
rate-limits on, and not in a step's chain. Workers in other processes learn it from their
own first 429 (one extra request per process, not per step).
"""

from __future__ import annotations

import threading
import time

from activities.providers.refs import ProviderRef

CooldownKey = tuple[str, str, str, str, str]

_lock = threading.Lock()
_until: dict[CooldownKey, float] = {}


def key_for(ref: ProviderRef, tenant: str | None) -> CooldownKey:
    """The provider (endpoint and model) as one caller sees it: a tenant's own key or a
    named secret is a different caller with its own limits."""
    return (ref.provider, ref.base_url or "", ref.model, ref.api_key_secret or "", tenant or "")


def remaining(key: CooldownKey, now: float | None = None) -> float:
    """Seconds until the provider accepts calls again (0: it may be called now)."""
    with _lock:
        until = _until.get(key, 0.0)
    return max(0.0, until - (time.monotonic() if now is None else now))


def rate_limited(key: CooldownKey, seconds: float) -> None:
    """Record a 429: skip the provider for ``seconds`` (never shortening a longer wait)."""
    until = time.monotonic() + seconds
    with _lock:
        if until > _until.get(key, 0.0):
            _until[key] = until


def clear() -> None:
    """Forget every cooldown (tests: a reset provider double is a new provider)."""
    with _lock:
        _until.clear()
