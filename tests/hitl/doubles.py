"""Test doubles for the two notification services that cannot run here: Slack's Web API
(`chat.postMessage`, a local HTTP server answering as Slack does) and an SMTP server
(aiosmtpd, a real SMTP implementation, on 127.0.0.1). Both record what they receive."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class SlackPost:
    token: str
    body: dict[str, Any]


@dataclass
class SlackDouble:
    """Test double of Slack's Web API: `POST /api/chat.postMessage` with a bearer token
    answers `{"ok": true}` (or the scripted failures first: status, body); `POST
    /services/…` answers as an incoming webhook does (`ok`)."""

    token: str
    posts: list[SlackPost] = field(default_factory=list)
    hooked: list[dict[str, Any]] = field(default_factory=list)  # incoming-webhook messages
    failures: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization", "")
                if self.path.startswith("/services/"):  # an incoming webhook: answers "ok"
                    double.hooked.append(json.loads(raw))
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                if self.path != "/api/chat.postMessage":
                    status, answer = 404, {"ok": False, "error": "unknown_method"}
                elif auth != f"Bearer {double.token}":
                    status, answer = 200, {"ok": False, "error": "invalid_auth"}
                elif double.failures:
                    status, answer = double.failures.popleft()
                else:
                    double.posts.append(SlackPost(auth[7:], json.loads(raw)))
                    status, answer = 200, {"ok": True, "ts": "1.0"}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/services/T0/B0/x"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def to(self, channel: str) -> list[dict[str, Any]]:
        return [p.body for p in self.posts if p.body.get("channel") == channel]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"


class SmtpDouble:
    """Test double of a mail server: aiosmtpd on 127.0.0.1, keeping every message."""

    def __init__(self) -> None:
        with socket.socket() as s:  # a free port: aiosmtpd checks readiness on the port given
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._inbox = _Inbox()
        self._controller = Controller(self._inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self._inbox.messages if address in rcpt]

    def close(self) -> None:
        self._controller.stop()
