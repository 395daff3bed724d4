"""An OTLP/HTTP trace receiver on 127.0.0.1: the part of an OpenTelemetry Collector that
accepts ``POST /v1/traces`` (``ExportTraceServiceRequest`` protobufs, optionally gzipped) and
answers as the protocol says. Not a test double: it is a real receiver of the protocol, it
keeps what it receives in memory instead of forwarding it.

Spans are decoded into `ReceivedSpan` (ids as hex, attributes as Python values, the
resource's ``service.name``) for tests to walk the tree.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"


@dataclass
class ReceivedEvent:
    name: str
    attributes: dict[str, Any]


@dataclass
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    name: str
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind
    service: str
    scope: str
    attributes: dict[str, Any]
    events: list[ReceivedEvent] = field(default_factory=list)
    status_code: int = 0  # 0 unset, 1 ok, 2 error
    start_ns: int = 0


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    return getattr(v, which)


def _attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in kvs:
        out[kv.key] = _value(kv.value)
    return out


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(),
                        name=s.name,
                        kind=s.kind,
                        service=service,
                        scope=scope_spans.scope.name,
                        attributes=_attributes(s.attributes),
                        events=[ReceivedEvent(e.name, _attributes(e.attributes)) for e in s.events],
                        status_code=s.status.code,
                        start_ns=s.start_time_unix_nano,
                    )
                )
    return spans


class OTLPReceiver:
    """``with OTLPReceiver() as r:`` serves on ``r.endpoint`` (the base URL, as
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes it) until the block ends."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def __enter__(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _received(self, spans: list[ReceivedSpan]) -> None:
        with self._lock:
            self._spans.extend(spans)
            self.requests += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path.rstrip("/") != TRACES_PATH:
                    self._reply(404, b"")
                    return
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                encoding = (self.headers.get("content-encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if not (self.headers.get("content-type") or "").startswith(PROTOBUF):
                    self._reply(415, b"")  # OTLP/HTTP JSON is not what the exporter sends
                    return
                try:
                    spans = decode(body)
                except Exception:
                    self._reply(400, b"")
                    return
                receiver._received(spans)
                self._reply(200, ExportTraceServiceResponse().SerializeToString())

            def _reply(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", PROTOBUF)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
