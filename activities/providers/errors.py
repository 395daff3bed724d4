"""How a failed provider call is treated: fail over to the next provider, or stop the step.

One layer owns each retry (DESIGN §6): SDK retries and CrewAI's are off, the chain fails
over within an attempt, and Temporal retries the attempt. So this module only *classifies*;
it never waits. Classification works on the exception chain by duck typing (``status_code``,
``code``, ``response.headers``), because CrewAI re-wraps SDK errors (``ConnectionError``,
``ValueError``) and the three SDKs name things differently.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

FailureKind = Literal[
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
    "malformed",
    "auth",
    "bad_request",
    "unknown",
]
FAILOVER_KINDS: frozenset[str] = frozenset(
    {"rate_limited", "server_error", "timeout", "connection", "malformed"}
)


@dataclass(frozen=True)
class ProviderFailure:
    provider: str
    kind: FailureKind
    status: int | None
    message: str
    retry_after_s: float | None = None

    @property
    def fails_over(self) -> bool:
        return self.kind in FAILOVER_KINDS

    def describe(self) -> str:
        status = f" HTTP {self.status}" if self.status else ""
        after = f", retry after {self.retry_after_s:g}s" if self.retry_after_s else ""
        return f"{self.provider}: {self.kind}{status}{after}: {self.message[:200]}"


class EmptyAnswer(ValueError):
    """HTTP 200 with a completion that has no content: no answer, so the call fails over.
    Recording it would make every retry replay the same nothing from the journal."""


class ProviderFatalError(RuntimeError):
    """A provider refused the request in a way no retry fixes (auth, bad request)."""

    def __init__(self, failure: ProviderFailure):
        hint = {
            "auth": "check the API key secret for this provider (401/403)",
            "bad_request": "the request was refused as invalid (model name? context length?)",
        }.get(failure.kind, "not retried")
        super().__init__(f"{failure.describe()} — {hint}")
        self.failure = failure


class ProvidersExhausted(RuntimeError):
    """Every provider of the chain failed with a transient error in this attempt."""

    def __init__(self, failures: list[ProviderFailure]):
        super().__init__("all providers failed: " + "; ".join(f.describe() for f in failures))
        self.failures = failures

    @property
    def retry_after_s(self) -> float | None:
        """When the earliest rate-limited provider said it would accept calls again."""
        hints = [f.retry_after_s for f in self.failures if f.retry_after_s]
        return min(hints) if hints else None


def cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it (`__cause__`, else `__context__`), each once."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None)
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


_TIMEOUT_NAMES = ("Timeout", "TimeoutError", "APITimeoutError", "ReadTimeout", "ConnectTimeout")
_CONNECTION_NAMES = (
    "APIConnectionError",
    "ConnectError",
    "ConnectionError",
    "RemoteProtocolError",
    "ReadError",
    "ConnectionResetError",
    "ConnectionRefusedError",
)
_MALFORMED_NAMES = (
    "JSONDecodeError",
    "APIResponseValidationError",
    "DecodingError",
    "EmptyAnswer",
)


def classify(provider: str, exc: BaseException) -> ProviderFailure:
    status: int | None = None
    retry_after: float | None = None
    names: list[str] = []
    for link in cause_chain(exc):
        status = status or _status(link)
        retry_after = retry_after if retry_after is not None else _retry_after(link)
        names.extend(k.__name__ for k in type(link).__mro__)
    message = str(exc) or type(exc).__name__
    kind: FailureKind
    if status == 429:
        kind = "rate_limited"
    elif status in (401, 403):
        kind = "auth"
    elif (status is not None and status >= 500) or status == 408:
        kind = "server_error"
    elif status is not None and 400 <= status < 500:
        kind = "bad_request"
    elif any(n in _TIMEOUT_NAMES for n in names):
        kind = "timeout"
    elif any(n in _MALFORMED_NAMES for n in names):
        kind = "malformed"
    elif any(n in _CONNECTION_NAMES for n in names):
        kind = "connection"
    elif isinstance(exc, json.JSONDecodeError):
        kind = "malformed"
    else:
        kind = "unknown"
    return ProviderFailure(provider, kind, status, message, retry_after)
