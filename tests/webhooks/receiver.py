"""A webhook receiver test double on 127.0.0.1: records every request and answers from a
per-path script (default 200); a scripted `hang` holds the request until released."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int | None = None
    """What the receiver answered; None while held (or when the client was gone)."""


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Hold the request until `Receiver.release` (then answer `status`)."""


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.release = threading.Event()
        self._scripts: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = Received(self.path, dict(self.headers.items()), body, time.monotonic())
                with receiver._lock:
                    receiver.requests.append(record)
                    script = receiver._scripts.get(self.path)
                    answer = script.popleft() if script else Answer()
                if answer.hang:
                    receiver.release.wait(60)
                payload = b'{"ok":%s}' % (b"true" if answer.status < 300 else b"false")
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except OSError:
                    return
                record.status = answer.status

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def script(self, path: str, *answers: Answer) -> None:
        """The next answers for `path`, in order; then 200s."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(answers)

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> list[Received]:
        return [r for r in self.on(path) if r.status is not None and 200 <= r.status < 300]
