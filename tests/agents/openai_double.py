"""A local model-API test double on 127.0.0.1 speaking three wire protocols:
OpenAI-compatible ``<prefix>/v1/chat/completions``, Anthropic ``<prefix>/v1/messages`` and
Gemini ``<prefix>/v1beta/models/<model>:generateContent``.

Each endpoint (URL prefix, e.g. ``/a``) plays one provider. Tests queue scripted behaviours
per endpoint; when the queue is empty the endpoint answers like a model following CrewAI's
ReAct text protocol (one tool call, then a final answer) with the endpoint's usage figures.
Every request is recorded so tests can assert who was called, in what order, how often.

Behaviours: ``Reply(text, usage)``, ``Fail(status, retry_after)``, ``Hang()`` (holds the
request until the server stops, so the client's own timeout fires), ``Malformed()``
(200 with a body that is not JSON).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
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
class Malformed:
    pass


Behaviour = Reply | Fail | Hang | Malformed


@dataclass
class Recorded:
    endpoint: str
    body: dict[str, Any]

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


class OpenAIDouble:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = defaultdict(Endpoint)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # lifecycle
    def start(self) -> OpenAIDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def base_url(self, endpoint: str) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/{endpoint}/v1"

    # scripting
    def reset(self) -> None:
        with self._lock:
            self.endpoints.clear()
            self.requests.clear()

    def configure(
        self,
        endpoint: str,
        *,
        usage: Usage | None = None,
        replier: Callable[[Recorded], str] | None = None,
        script: list[Behaviour] | None = None,
    ) -> None:
        with self._lock:
            ep = self.endpoints[endpoint]
            if usage is not None:
                ep.usage = usage
            if replier is not None:
                ep.replier = replier
            if script is not None:
                ep.script.extend(script)

    def calls(self, endpoint: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if endpoint is None or r.endpoint == endpoint]

    def order(self) -> list[str]:
        with self._lock:
            return [r.endpoint for r in self.requests]

    # serving
    def _next(self, req: Recorded) -> tuple[Behaviour, Endpoint]:
        with self._lock:
            self.requests.append(req)
            ep = self.endpoints[req.endpoint]
            behaviour: Behaviour = ep.script.popleft() if ep.script else Reply()
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
                if isinstance(behaviour, Malformed):
                    self._send_raw(200, b'{"id": "x", "choices": [ {not json')
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
                text = behaviour.text
                if text is None:
                    text = ep.replier(req) if ep.replier else "Final Answer: {}"
                usage = behaviour.usage or ep.usage
                self._send(200, _answer(protocol, body, text, usage, len(double.requests)))

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

            def _send_raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


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
