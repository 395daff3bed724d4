"""The API's own Prometheus metrics at `/metrics`: requests by route, method and status, and
their latency. Routes are counted by their template (`/v1/workflows/{execution_id}/status`),
never by the concrete path, so ids cannot blow up the series."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "bizos_api_requests_total",
    "HTTP requests answered",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "bizos_api_request_seconds", "Time to answer", ["route", "method"], registry=REGISTRY
)
RATE_LIMITED = Counter(
    "bizos_api_rate_limited_total", "Requests refused by a rate limit", ["tenant"],
    registry=REGISTRY,
)
BUDGET_ALERTS = Counter(
    "bizos_api_budget_alerts_total",
    "A tenant's monthly spend crossed 75/90/100 % of its budget (once per month and threshold)",
    ["tenant", "threshold"],
    registry=REGISTRY,
)
BUDGET_REFUSED = Counter(
    "bizos_api_budget_refused_total",
    "Executions refused because the tenant's monthly budget is spent",
    ["tenant"],
    registry=REGISTRY,
)

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in getattr(request.state, "rate_headers", {}).items():
            response.headers.setdefault(name, value)  # RateLimit-* of admitted requests too
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        REQUESTS.labels(template, request.method, str(response.status_code)).inc()
        LATENCY.labels(template, request.method).observe(time.perf_counter() - started)
        return response
