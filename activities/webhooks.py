"""Execution-event webhooks: the event model, Stripe-style signing, and the delivery activity.

A tenant registers endpoints (URL + signing secret + event types). Each (event, endpoint) is
delivered by its own `DeliverWebhook` workflow (workflows/webhooks.py) running the
`deliver_webhook` activity defined here. The workflow carries the event and the endpoint's
id only: the URL and the secret are read by the activity, at each attempt, from the
`EndpointResolver` the worker was started with, so no secret ever enters workflow history
and an endpoint deleted (or unsubscribed) meanwhile stops receiving.

Every request carries

    Bizos-Event-Id: evt_<hex>            stable per event: receivers act once per id
    Bizos-Event-Type: completed
    Bizos-Signature: t=<unix>,v1=<hex hmac-sha256(secret, f"{t}.{body}")>

and its body is the canonical JSON of the event (`event_body`). Receivers check the
signature with `verify`. Delivery is at least once: the same event id may arrive again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from activities.http_client import LazyHttpClient

if TYPE_CHECKING:
    import httpx

DELIVER_WEBHOOK = "deliver_webhook"

EventType = Literal["started", "waiting_for_person", "completed", "failed", "budget_alert"]
EVENT_TYPES: tuple[str, ...] = (
    "started",
    "waiting_for_person",
    "completed",
    "failed",
    "budget_alert",
)

SIGNATURE_HEADER = "Bizos-Signature"
EVENT_ID_HEADER = "Bizos-Event-Id"
EVENT_TYPE_HEADER = "Bizos-Event-Type"
USER_AGENT = "bizos-webhooks/1"
DEFAULT_TOLERANCE_S = 300
RESPONSE_SNIPPET = 200
"""How much of a refusing endpoint's answer goes into the recorded failure."""

ENDPOINTS_FILE_ENV = "BIZOS_WEBHOOK_ENDPOINTS"
MAX_EVENT_BYTES = 64 * 1024
"""Events carry ids and summaries, not outputs: small in history, small for receivers."""

# Failure types the workflow and callers tell apart.
REJECTED = "WebhookRejected"
"""The endpoint answered 4xx (not 408/429) or redirected: retrying cannot help."""
RETRYABLE = "WebhookEndpointUnavailable"
"""5xx, 408, 429, timeout or connection error: retried with backoff."""
UNKNOWN_ENDPOINT = "WebhookEndpointUnknown"
"""The endpoint was deleted, unsubscribed from the event type, or has no secret."""


# ---------------------------------------------------------------------------------------------
# Models


class WebhookEvent(BaseModel):
    """One execution event. `event_id` is derived from what the event is about
    (`event_id_for`), so the same event emitted twice has the same id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(pattern=r"^evt_[0-9a-f]{32}$")
    tenant: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    type: EventType
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounded(self) -> WebhookEvent:
        size = len(event_body(self))
        if size > MAX_EVENT_BYTES:
            raise ValueError(
                f"webhook event {self.event_id} is {size} bytes, over {MAX_EVENT_BYTES}: "
                "send references (run id, artifact ids) rather than outputs"
            )
        return self

    @classmethod
    def for_run(
        cls,
        *,
        tenant: str,
        type: EventType,
        workflow_id: str,
        run_id: str,
        occurred_at: datetime,
        step: str | None = None,
        level: int | None = None,
        round: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> WebhookEvent:
        """The event about a run (and step, budget level, approval round) with its stable id.
        `workflow_id`, `run_id` and the qualifiers are added to `data`."""
        body: dict[str, Any] = {"workflow_id": workflow_id, "run_id": run_id}
        for key, value in (("step", step), ("level", level), ("round", round)):
            if value is not None:
                body[key] = value
        body.update(data or {})
        return cls(
            event_id=event_id_for(workflow_id, run_id, type, step=step, level=level, round=round),
            tenant=tenant,
            type=type,
            occurred_at=occurred_at,
            data=body,
        )


def event_id_for(
    workflow_id: str,
    run_id: str,
    type: str,
    *,
    step: str | None = None,
    level: int | None = None,
    round: int | None = None,
) -> str:
    """`evt_<32 hex>`: sha256 of what the event is about, never of when it was emitted."""
    key = json.dumps(
        [workflow_id, run_id, type, step, level, round], separators=(",", ":"), ensure_ascii=False
    )
    return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:32]


class WebhookTarget(BaseModel):
    """A registered endpoint, as the resolver gives it. Never passed to a workflow."""

    model_config = ConfigDict(extra="forbid")

    endpoint_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    url: str = Field(pattern=r"^https?://")
    event_types: list[EventType] = Field(default_factory=lambda: list(EVENT_TYPES))  # type: ignore[arg-type]
    secret: SecretStr | None = Field(
        default=None, description="may be left out: the activity asks `secret_for`"
    )


class DeliveryPolicy(BaseModel):
    """How hard to try. The defaults suit production; tests shorten the intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_interval_s: float = Field(default=2.0, gt=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval_s: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=20, ge=1)
    deadline_s: float = Field(default=86_400.0, gt=0, description="schedule-to-close")
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)

    def retry_policy(self, *non_retryable: str) -> RetryPolicy:
        """Temporal's retry policy for one delivery (webhook or notification)."""
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval_s),
            backoff_coefficient=self.backoff,
            maximum_interval=timedelta(seconds=self.max_interval_s),
            maximum_attempts=self.max_attempts,
            non_retryable_error_types=list(non_retryable),
        )


class DeliveryRequest(BaseModel):
    """Input of the `deliver_webhook` activity: the event and where to, by id only."""

    model_config = ConfigDict(extra="forbid")

    event: WebhookEvent
    endpoint_id: str
    request_timeout_s: float = 10.0
    max_retry_after_s: float = 600.0


class DeliveryAttempt(BaseModel):
    """Output of the `deliver_webhook` activity (and the details of its failures)."""

    endpoint_id: str
    attempt: int
    status_code: int | None = None
    duration_ms: int = 0
    error: str | None = None


# ---------------------------------------------------------------------------------------------
# Signing


class InvalidSignature(ValueError):
    """The `Bizos-Signature` header is missing, malformed, stale or does not match."""


def event_body(event: WebhookEvent) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8: what is signed and what is sent."""
    return json.dumps(
        event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `Bizos-Signature` header value for `body` at `timestamp` (default: now)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def signed_headers(secret: str, event: WebhookEvent, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event.event_id,
        EVENT_TYPE_HEADER: event.type,
        SIGNATURE_HEADER: sign(secret, body),
    }


def verify(
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> int:
    """Check a `Bizos-Signature` header against the raw request body; returns its timestamp.

    Raises `InvalidSignature` when the header is missing or malformed, when its timestamp is
    more than `tolerance_s` from `now` (replays), or when no `v1` matches. Several `v1`
    entries are accepted (one per secret during a rotation). Verify the raw bytes received,
    before parsing them."""
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature(
                    f"{SIGNATURE_HEADER} timestamp {value!r} is not an integer"
                ) from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature(f"{SIGNATURE_HEADER} needs t=<unix> and v1=<hex>")
    current = time.time() if now is None else now
    if tolerance_s > 0 and abs(current - timestamp) > tolerance_s:
        raise InvalidSignature(
            f"{SIGNATURE_HEADER} timestamp is {abs(current - timestamp):.0f}s away from now "
            f"(tolerance {tolerance_s:.0f}s): a replay, or a clock off"
        )
    expected = _mac(secret, timestamp, raw)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidSignature(f"{SIGNATURE_HEADER} does not match the body and secret")
    return timestamp


# ---------------------------------------------------------------------------------------------
# Endpoint resolvers


class EndpointResolver(Protocol):
    """Where endpoints and their secrets come from (the store's `webhook_endpoints` table
    later; a JSON file or a test's callable now). Called by the activity at every attempt
    and by `emit_for` to fan an event out."""

    async def secret_for(self, tenant: str, endpoint_id: str) -> str | None:
        """The endpoint's signing secret, None when the endpoint does not exist (anymore)."""
        ...

    async def endpoints_for(self, tenant: str, event_type: str) -> list[WebhookTarget]:
        """The tenant's endpoints subscribed to `event_type`."""
        ...


class StaticEndpoints:
    """Endpoints held in memory: `{tenant: [WebhookTarget, ...]}` (with secrets)."""

    def __init__(self, endpoints: Mapping[str, list[WebhookTarget]] | None = None) -> None:
        self._endpoints = {t: list(v) for t, v in (endpoints or {}).items()}

    def _all(self) -> Mapping[str, list[WebhookTarget]]:
        return self._endpoints

    async def _load(self) -> Mapping[str, list[WebhookTarget]]:
        # subclasses read files and secrets (Vault: a network call): off the event loop
        return await asyncio.to_thread(self._all)

    async def endpoints_for(self, tenant: str, event_type: str) -> list[WebhookTarget]:
        return [t for t in (await self._load()).get(tenant, []) if event_type in t.event_types]

    async def secret_for(self, tenant: str, endpoint_id: str) -> str | None:
        for target in (await self._load()).get(tenant, []):
            if target.endpoint_id == endpoint_id and target.secret is not None:
                return target.secret.get_secret_value() or None
        return None


class FileEndpoints(StaticEndpoints):
    """Endpoints from a JSON file (re-read when it changes), path from
    BIZOS_WEBHOOK_ENDPOINTS:

        {"acme": [{"endpoint_id": "ep1", "url": "https://…", "event_types": ["completed"],
                   "secret": "…"} | {…, "secret_name": "ACME_WEBHOOK_SECRET"}]}

    `secret_name` reads the secret from the secrets backend (activities.secrets) instead of
    the file. No file configured: no endpoints."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        configured = path or os.environ.get(ENDPOINTS_FILE_ENV)
        self._path = Path(configured) if configured else None
        self._mtime: float | None = None

    def _all(self) -> Mapping[str, list[WebhookTarget]]:
        if self._path is None:
            return {}
        try:
            mtime = self._path.stat().st_mtime
        except OSError:
            return {}
        if mtime != self._mtime:
            self._endpoints = _parse_endpoints(json.loads(self._path.read_text(encoding="utf-8")))
            self._mtime = mtime
        return self._endpoints


def _parse_endpoints(raw: Any) -> dict[str, list[WebhookTarget]]:
    from activities.secrets import get_secret

    if not isinstance(raw, dict):
        raise ValueError(f"{ENDPOINTS_FILE_ENV}: expected {{tenant: [endpoint, ...]}}")
    parsed: dict[str, list[WebhookTarget]] = {}
    for tenant, items in raw.items():
        targets = []
        for item in items:
            entry = dict(item)
            name = entry.pop("secret_name", None)
            if name:
                entry["secret"] = get_secret(name)
            targets.append(WebhookTarget.model_validate(entry))
        parsed[tenant] = targets
    return parsed


class CallableEndpoints:
    """A resolver from two callables (what tests and embedding code provide)."""

    def __init__(
        self,
        secret_for: Callable[[str, str], Awaitable[str | None]],
        endpoints_for: Callable[[str, str], Awaitable[list[WebhookTarget]]],
    ) -> None:
        self._secret_for = secret_for
        self._endpoints_for = endpoints_for

    async def secret_for(self, tenant: str, endpoint_id: str) -> str | None:
        return await self._secret_for(tenant, endpoint_id)

    async def endpoints_for(self, tenant: str, event_type: str) -> list[WebhookTarget]:
        return await self._endpoints_for(tenant, event_type)


# ---------------------------------------------------------------------------------------------
# Delivery


def retry_after_s(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= RESPONSE_SNIPPET else text[: RESPONSE_SNIPPET - 1] + "…"


class WebhookActivities:
    """The delivery activity, bound to the resolver the worker was started with. One httpx
    client (connection pool) per instance, opened on first use."""

    def __init__(
        self,
        resolver: EndpointResolver | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.resolver: EndpointResolver = resolver or FileEndpoints()
        self._http = LazyHttpClient(transport)

    def all(self) -> list[Callable[..., Any]]:
        return [self.deliver_webhook]

    @activity.defn(name=DELIVER_WEBHOOK)
    async def deliver_webhook(self, req: DeliveryRequest) -> DeliveryAttempt:
        """POST the signed event to the endpoint once. 2xx: delivered. 4xx other than
        408/429, and redirects: non-retryable. Anything else: retryable, after the
        endpoint's Retry-After when it gives one."""
        import httpx

        event, endpoint_id = req.event, req.endpoint_id
        attempt = activity.info().attempt
        log = activity.logger
        target = next(
            (
                t
                for t in await self.resolver.endpoints_for(event.tenant, event.type)
                if t.endpoint_id == endpoint_id
            ),
            None,
        )
        secret = await self.resolver.secret_for(event.tenant, endpoint_id) if target else None
        if target is None or not secret:
            why = "has no signing secret" if target else "is not registered for this event type"
            raise ApplicationError(
                f"webhook endpoint {endpoint_id} of tenant {event.tenant} {why} "
                f"(deleted or unsubscribed since the event was emitted?); event {event.event_id} "
                "not delivered",
                DeliveryAttempt(endpoint_id=endpoint_id, attempt=attempt, error=why),
                type=UNKNOWN_ENDPOINT,
                non_retryable=True,
            )
        if event.type == "waiting_for_person":
            # one-click decision links, minted here so no token enters a workflow history;
            # deterministic per event and principal, so a retried delivery sends the same
            from activities.notify.links import data_with_links

            event = event.model_copy(
                update={
                    "data": await data_with_links(
                        event.event_id, event.tenant, event.occurred_at, dict(event.data)
                    )
                }
            )
        body = event_body(event)
        headers = signed_headers(secret, event, body)
        headers["Bizos-Delivery-Attempt"] = str(attempt)
        client = await self._http.get()
        started = time.monotonic()
        try:
            # httpx's timeout bounds each phase; this bounds the whole exchange (an endpoint
            # dripping its answer byte by byte would otherwise outlive the attempt)
            async with asyncio.timeout(req.request_timeout_s):
                resp = await client.post(
                    target.url, content=body, headers=headers, timeout=req.request_timeout_s
                )
        except (httpx.TimeoutException, TimeoutError) as e:
            raise self._retryable(
                event,
                endpoint_id,
                attempt,
                started,
                f"timed out after {req.request_timeout_s:g}s ({type(e).__name__})",
            ) from None
        except httpx.HTTPError as e:
            # the exception's text names the URL, never a header: the secret stays out
            raise self._retryable(
                event, endpoint_id, attempt, started, f"{type(e).__name__}: {e}"
            ) from None
        duration_ms = int((time.monotonic() - started) * 1000)
        status = resp.status_code
        result = DeliveryAttempt(
            endpoint_id=endpoint_id, attempt=attempt, status_code=status, duration_ms=duration_ms
        )
        if 200 <= status < 300:
            log.info(
                "webhook %s (%s) delivered to endpoint %s: %s on attempt %d in %d ms",
                event.event_id,
                event.type,
                endpoint_id,
                status,
                attempt,
                duration_ms,
            )
            return result
        said = _snippet(resp.text)
        result.error = f"HTTP {status}" + (f": {said}" if said else "")
        if status in (408, 429) or status >= 500:
            delay = retry_after_s(resp.headers.get("Retry-After"))
            raise ApplicationError(
                f"webhook endpoint {endpoint_id} answered {result.error} (attempt {attempt}); "
                f"retrying{f' after {delay:g}s (Retry-After)' if delay is not None else ''}",
                result,
                type=RETRYABLE,
                next_retry_delay=(
                    timedelta(seconds=min(delay, req.max_retry_after_s))
                    if delay is not None
                    else None
                ),
            )
        hint = (
            "redirects are not followed: register the final URL"
            if 300 <= status < 400
            else "the endpoint refused the event; not retried"
        )
        raise ApplicationError(
            f"webhook endpoint {endpoint_id} answered {result.error} to event {event.event_id} "
            f"(attempt {attempt}): {hint}",
            result,
            type=REJECTED,
            non_retryable=True,
        )

    @staticmethod
    def _retryable(
        event: WebhookEvent, endpoint_id: str, attempt: int, started: float, error: str
    ) -> ApplicationError:
        return ApplicationError(
            f"webhook event {event.event_id} to endpoint {endpoint_id} (attempt {attempt}): "
            f"{error}",
            DeliveryAttempt(
                endpoint_id=endpoint_id,
                attempt=attempt,
                duration_ms=int((time.monotonic() - started) * 1000),
                error=error,
            ),
            type=RETRYABLE,
        )

    async def close(self) -> None:
        await self._http.close()


_default: WebhookActivities | None = None


def default_webhook_activities() -> WebhookActivities:
    """Process-wide instance for workers built without one (endpoints from
    BIZOS_WEBHOOK_ENDPOINTS until the store's `webhook_endpoints` table lands)."""
    global _default
    if _default is None:
        _default = WebhookActivities()
    return _default
