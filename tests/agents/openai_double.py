"""A local model-API test double on 127.0.0.1 speaking three wire protocols:
OpenAI-compatible ``<prefix>/v1/chat/completions``, Anthropic ``<prefix>/v1/messages`` and
Gemini ``<prefix>/v1beta/models/<model>:generateContent``.

Each endpoint (URL prefix, e.g. ``/a``) plays one provider. Tests queue scripted behaviours
per endpoint; when the queue is empty the endpoint answers like a model following CrewAI's
ReAct text protocol (one tool call, then a final answer) with the endpoint's usage figures.
Every request is recorded so tests can assert who was called, in what order, how often.

Behaviours: ``Reply(text, usage)``, ``Fail(status, retry_after)``, ``Hang()`` (holds the
request until the server stops, so the client's own timeout fires), ``Slow(delay_s)`` (an
answer that comes after the client gave up), ``Malformed(body)`` (200 with a body that is
not a completion), ``Truncated()`` (the connection drops halfway through the answer: a
cut body, or an SSE stream without its end when the request asked to stream).

Fault mixes for load tests: ``configure(endpoint, cycle=[...])`` plays the behaviours in
turn once the script is empty, and an endpoint remembers each 429 + Retry-After it sent:
like a real rate limiter it refuses every request until then (``Recorded.outcome ==
"early"``). Each request records when it arrived and how it was answered, so tests measure
rather than sleep. ``refused_base_url()`` is a provider that is down (connection refused).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Reply:
    text: str | None = None  # None: the default ReAct answer
    usage: Usage | None = None


@dataclass
class Fail:
    status: int
    retry_after: float | None = None
    message: str = "scripted failure"


@dataclass
class Hang:
    """Hold the request open until ``until`` is set (default: server stop), then drop the
    connection without an answer."""

    until: threading.Event | None = None


@dataclass
class Slow:
    """Answer (a normal reply) only after ``delay_s``: past the client's timeout, the
    client has gone and the answer is written to a closed connection."""

    delay_s: float


NOT_JSON = b'{"id": "x", "choices": [ {not json'


@dataclass
class Malformed:
    """200 with ``body``: by default not JSON at all."""

    body: bytes = NOT_JSON


@dataclass
class Truncated:
    """The answer starts, then the connection drops: half the JSON body under a
    content-length for all of it, or SSE chunks without the final one and ``[DONE]``."""


Behaviour = Reply | Fail | Hang | Slow | Malformed | Truncated


@dataclass
class Recorded:
    endpoint: str
    body: dict[str, Any]
    at: float = 0.0  # time.monotonic() when the request arrived
    outcome: str = ""  # how it was answered: answered, http_429, slow, truncated, early, ...
    retry_after: float | None = None  # the Retry-After sent with a 429

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation, normalised to OpenAI's roles whatever the protocol."""
        if "contents" in self.body:  # Gemini
            return [
                {
                    "role": "assistant" if c.get("role") == "model" else c.get("role", "user"),
                    "content": "".join(p.get("text", "") for p in c.get("parts", [])),
                }
                for c in self.body["contents"]
            ]
        return list(self.body.get("messages", []))


def default_react(
    tool: str, tool_args: dict[str, Any], final: dict[str, Any]
) -> Callable[[Recorded], str]:
    """First call: use ``tool``; once a tool result is in the conversation: final answer."""

    def reply(req: Recorded) -> str:
        if any(m.get("role") == "assistant" for m in req.messages):
            return "Thought: I now know the final answer\nFinal Answer: " + json.dumps(final)
        return f"Thought: I need data.\nAction: {tool}\nAction Input: {json.dumps(tool_args)}"

    return reply


@dataclass
class Endpoint:
    usage: Usage = field(default_factory=lambda: Usage(1000, 200))
    script: deque[Behaviour] = field(default_factory=deque)
    replier: Callable[[Recorded], str] | None = None
    cycle: list[Behaviour] = field(default_factory=list)
    served: int = 0  # requests taken from the cycle
    limited_until: float = 0.0  # a 429 + Retry-After refuses everything until then


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when dozens of steps connect at once: the
    # kernel drops the SYNs and clients retry a second later, so requests would arrive late
    # or fail for reasons no real provider server has.
    request_queue_size = 512


class OpenAIDouble:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = defaultdict(Endpoint)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._refusing: list[socket.socket] = []

    # lifecycle
    def start(self) -> OpenAIDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        for sock in self._refusing:
            sock.close()

    def refused_base_url(self) -> str:
        """A provider that is down: a port bound but not listening refuses connections (and
        stays bound while the double lives, so nothing else can take it)."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._refusing.append(sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    def base_url(self, endpoint: str) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/{endpoint}/v1"

    # scripting
    def reset(self) -> None:
        from activities.providers import cooldown

        with self._lock:
            self.endpoints.clear()
            self.requests.clear()
        # A reset double is new providers: the worker must forget their Retry-Afters.
        cooldown.clear()

    def configure(
        self,
        endpoint: str,
        *,
        usage: Usage | None = None,
        replier: Callable[[Recorded], str] | None = None,
        script: list[Behaviour] | None = None,
        cycle: list[Behaviour] | None = None,
    ) -> None:
        with self._lock:
            ep = self.endpoints[endpoint]
            if usage is not None:
                ep.usage = usage
            if replier is not None:
                ep.replier = replier
            if script is not None:
                ep.script.extend(script)
            if cycle is not None:
                ep.cycle = list(cycle)

    def calls(self, endpoint: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if endpoint is None or r.endpoint == endpoint]

    def order(self) -> list[str]:
        with self._lock:
            return [r.endpoint for r in self.requests]

    def outcomes(self, endpoint: str) -> Counter[str]:
        """How the endpoint's requests were answered, counted."""
        return Counter(r.outcome for r in self.calls(endpoint))

    # serving
    def _next(self, req: Recorded) -> tuple[Behaviour, Endpoint]:
        with self._lock:
            req.at = time.monotonic()
            self.requests.append(req)
            ep = self.endpoints[req.endpoint]
            if req.at < ep.limited_until:
                req.outcome = "early"  # asked again before the Retry-After it was given
                return Fail(429, retry_after=ep.limited_until - req.at, message="early"), ep
            behaviour: Behaviour
            if ep.script:
                behaviour = ep.script.popleft()
            elif ep.cycle:
                behaviour = ep.cycle[ep.served % len(ep.cycle)]
                ep.served += 1
            else:
                behaviour = Reply()
            if isinstance(behaviour, Fail) and behaviour.status == 429 and behaviour.retry_after:
                ep.limited_until = max(ep.limited_until, req.at + behaviour.retry_after)
            if not req.outcome:
                req.outcome = _outcome(behaviour)
                if isinstance(behaviour, Fail):
                    req.retry_after = behaviour.retry_after
            return behaviour, ep

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = self.path.strip("/").split("/")
                if parts[-2:] == ["chat", "completions"]:
                    protocol = "openai"
                elif parts[-2:] == ["v1", "messages"]:
                    protocol = "anthropic"
                elif parts[-1].endswith(":generateContent"):
                    protocol = "gemini"
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                req = Recorded(endpoint=parts[0], body=body)
                behaviour, ep = double._next(req)
                if isinstance(behaviour, Hang):
                    (behaviour.until or double._release).wait(60)
                    self.close_connection = True
                    return
                if isinstance(behaviour, Slow):
                    double._release.wait(behaviour.delay_s)
                if isinstance(behaviour, Malformed):
                    self._send_raw(200, behaviour.body)
                    return
                if isinstance(behaviour, Fail):
                    headers = {}
                    if behaviour.retry_after is not None:
                        headers["retry-after"] = f"{behaviour.retry_after:g}"
                    self._send(
                        behaviour.status,
                        {"error": {"message": behaviour.message, "type": "scripted"}},
                        headers,
                    )
                    return
                scripted = behaviour if isinstance(behaviour, Reply) else Reply()
                text = scripted.text
                if text is None:
                    text = ep.replier(req) if ep.replier else "Final Answer: {}"
                usage = scripted.usage or ep.usage
                answer = _answer(protocol, body, text, usage, len(double.requests))
                try:
                    if isinstance(behaviour, Truncated):
                        self._send_truncated(answer, stream=bool(body.get("stream")))
                    elif body.get("stream") and protocol == "openai":
                        self._send_stream(_chunks(answer))
                    else:
                        self._send(200, answer)
                except OSError:  # the client gave up first (Slow): its answer has nowhere to go
                    self.close_connection = True

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_stream(self, chunks: list[dict[str, Any]], *, complete: bool = True) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in chunks:
                    self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                if complete:
                    self._chunk(b"data: [DONE]\n\n")
                    self._chunk(b"")
                else:
                    self.close_connection = True  # no [DONE], no last chunk: the line drops

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _send_truncated(self, answer: dict[str, Any], *, stream: bool) -> None:
                if stream:
                    chunks = _chunks(answer)
                    self._send_stream(chunks[: max(1, len(chunks) // 2)], complete=False)
                    return
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True

            def _send_raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _outcome(behaviour: Behaviour) -> str:
    if isinstance(behaviour, Fail):
        return f"http_{behaviour.status}"
    return {
        Reply: "answered",
        Hang: "hang",
        Slow: "slow",
        Malformed: "malformed",
        Truncated: "truncated",
    }[type(behaviour)]


def _chunks(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """An OpenAI chat completion as the SSE chunks of a stream: the text in pieces, then
    the finish reason, then the usage."""
    text = answer["choices"][0]["message"]["content"] or ""
    base = {k: answer[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    pieces = [text[i : i + 16] for i in range(0, len(text), 16)] or [""]
    chunks = [
        base | {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
        for p in pieces
    ]
    chunks.append(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append(base | {"choices": [], "usage": answer["usage"]})
    return chunks


def _answer(protocol: str, body: dict[str, Any], text: str, usage: Usage, n: int) -> dict[str, Any]:
    if protocol == "anthropic":
        return {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "test"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
            },
        }
    if protocol == "gemini":
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": {
                "promptTokenCount": usage.prompt_tokens,
                "candidatesTokenCount": usage.completion_tokens,
                "totalTokenCount": usage.prompt_tokens + usage.completion_tokens,
            },
        }
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "test"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    }
