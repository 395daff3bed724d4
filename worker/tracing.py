"""OpenTelemetry tracing for a BizOS process (the API, a worker): one TracerProvider named
after the process, exporting over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, and nothing at all otherwise.

When on, spans cover the HTTP API (FastAPI), the Temporal client, workflows and activities
(`temporalio.contrib.opentelemetry.TracingInterceptor`, added by `BizosPlugin` through
`temporal_interceptors`), outgoing HTTP (httpx, which the provider SDKs use) and every model
call (`activities.providers.call_spans`). The trace context travels in Temporal headers and
W3C ``traceparent`` headers, and into the crew's worker threads with the step's context
variables, so one execution is one trace from the HTTP request to each model call.

When off, nothing is imported, instrumented or intercepted: the only cost is one check per
model call. CrewAI's own telemetry stays off whatever this module does
(`activities.crew.env`); CrewAI keeps a provider of its own and never uses this one.

The usual OTel variables apply: ``OTEL_SERVICE_NAME`` overrides the service name,
``OTEL_RESOURCE_ATTRIBUTES`` adds resource attributes, ``OTEL_EXPORTER_OTLP_HEADERS`` sets
headers, ``OTEL_TRACES_SAMPLER`` samples; ``OTEL_TRACES_EXPORTER=none`` or
``OTEL_SDK_DISABLED=true`` switch tracing off.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Interceptor

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# Probes and scrapes would be most of the API's spans and say nothing about executions.
API_EXCLUDED_URLS = "/healthz,/readyz,/metrics"


@dataclass
class Tracing:
    """This process's tracing, while it is on."""

    service: str
    provider: TracerProvider
    endpoint: str
    global_provider: bool


_active: Tracing | None = None


def endpoint_from_env() -> str | None:
    """Where spans go, or None when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def active() -> Tracing | None:
    return _active


def setup_tracing(service: str, *, global_provider: bool = True) -> Tracing | None:
    """Turn tracing on for this process as ``service`` when an OTLP endpoint is configured;
    None (and nothing done) when not. Once per process: a second call returns the first
    setup (the API and workers sharing a process share one provider).

    ``global_provider`` also installs it as OpenTelemetry's global provider, for libraries
    that trace through the global API; the platform's own spans never need it (tests that
    must not leave a provider behind pass False)."""
    global _active
    if _active is not None:
        return _active
    endpoint = endpoint_from_env()
    if endpoint is None:
        return None
    # Imported only when on: a process without tracing never loads the SDK or exporters.
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from activities.providers import call_spans

    attributes: dict[str, Any] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service
    provider = TracerProvider(resource=Resource.create(attributes))
    # The exporter reads the endpoint (appending /v1/traces to a base URL), headers, timeout
    # and compression from the OTEL_EXPORTER_OTLP_* variables itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    call_spans.set_tracer(provider.get_tracer("bizos.llm"))
    if global_provider:
        trace.set_tracer_provider(provider)
    _active = Tracing(service, provider, endpoint, global_provider)
    log.info("tracing on: service %s, OTLP/HTTP export to %s", service, endpoint)
    return _active


def shutdown_tracing() -> None:
    """Export what is buffered and switch tracing off (the provider also flushes at exit).
    A global provider stays installed (OpenTelemetry allows one per process) but idle."""
    global _active
    tracing, _active = _active, None
    if tracing is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    from activities.providers import call_spans

    call_spans.set_tracer(None)
    HTTPXClientInstrumentor().uninstrument()
    tracing.provider.shutdown()


def temporal_interceptors() -> list[Interceptor]:
    """Temporal's tracing interceptor (client, workflows, activities) when tracing is on."""
    if _active is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_active.provider.get_tracer("temporalio"))]


def instrument_app(app: Any, service: str = "bizos-api") -> None:
    """Trace the API's requests; sets tracing up as ``service`` if the process has not."""
    tracing = setup_tracing(service)
    if tracing is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracing.provider, excluded_urls=API_EXCLUDED_URLS
    )
