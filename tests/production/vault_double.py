"""A Vault test double: a local HTTP server speaking the subset of HashiCorp Vault's HTTP API
that hvac uses here — KV v2 (read, write with check-and-set, soft delete, metadata read,
list and delete), AppRole login, token lookup-self and renew-self, and sys/health. No Vault
server can run on this machine; this is NOT Vault, only enough of its wire protocol to drive
the real hvac client.

Tests can take it down (`down()`: the port refuses connections) and bring it back (`up()`,
same port, same data), refuse token renewals, revoke every token, and read which requests
it served. Token lifetimes follow an injectable clock, so a test can move time instead of
sleeping. Nothing is logged: requests carry tokens and secret values.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Token:
    ttl_s: float  # 0: never expires
    issued_at: float
    renewable: bool
    max_ttl_s: float = 0.0  # 0: no cap
    created_at: float = 0.0
    policies: list[str] = field(default_factory=lambda: ["bizos"])

    def remaining(self, now: float) -> float:
        return self.ttl_s - (now - self.issued_at) if self.ttl_s else 0.0

    def alive(self, now: float) -> bool:
        return self.ttl_s == 0 or self.remaining(now) > 0


@dataclass
class Secret:
    versions: list[dict[str, str] | None] = field(default_factory=list)  # None: soft-deleted

    @property
    def version(self) -> int:
        return len(self.versions)


class VaultDouble:
    def __init__(
        self,
        *,
        mount: str = "secret",
        approle_mount: str = "approle",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mount = mount
        self.approle_mount = approle_mount
        self.clock = clock
        self.tokens: dict[str, Token] = {}
        self.roles: dict[str, tuple[str, float, float]] = {}  # role_id -> (secret_id, ttl, max)
        self.kv: dict[str, Secret] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path): never bodies or headers
        self.refuse_renewals = False
        self._lock = threading.Lock()
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    # lifecycle
    def start(self) -> VaultDouble:
        return self.up()

    def up(self) -> VaultDouble:
        """Serve (again) on the same port with the same data."""
        server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler())
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def down(self) -> None:
        """Stop listening: connections to the port are refused until `up()`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        # Clients keep connections alive: cut them too, or "down" would still answer them.
        with self._lock:
            open_connections, self._connections = set(self._connections), set()
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    stop = down

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # setting the stage
    def add_token(self, ttl_s: float = 0, *, renewable: bool = True, max_ttl_s: float = 0) -> str:
        token = "hvs." + secrets.token_urlsafe(18)
        now = self.clock()
        with self._lock:
            self.tokens[token] = Token(ttl_s, now, renewable, max_ttl_s, now)
        return token

    def add_approle(self, ttl_s: float = 60, *, max_ttl_s: float = 0) -> tuple[str, str]:
        role_id, secret_id = secrets.token_hex(8), secrets.token_hex(16)
        with self._lock:
            self.roles[role_id] = (secret_id, ttl_s, max_ttl_s)
        return role_id, secret_id

    def put(self, path: str, data: dict[str, str]) -> None:
        with self._lock:
            self.kv.setdefault(path.strip("/"), Secret()).versions.append(dict(data))

    def data(self, path: str) -> dict[str, str] | None:
        with self._lock:
            entry = self.kv.get(path.strip("/"))
            return dict(entry.versions[-1] or {}) if entry and entry.versions[-1] else None

    def revoke_all(self) -> None:
        with self._lock:
            self.tokens.clear()

    def served(self, method: str, path_prefix: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    # the API
    def _route(
        self, method: str, path: str, query: dict[str, list[str]], token: str, body: Any
    ) -> tuple[int, Any]:
        now = self.clock()
        if path == "/v1/sys/health":
            return 200, {
                "initialized": True,
                "sealed": False,
                "standby": False,
                "version": "test-double",
                "server_time_utc": int(time.time()),
            }
        if path == f"/v1/auth/{self.approle_mount}/login" and method in ("POST", "PUT"):
            return self._login(body, now)
        live = self.tokens.get(token)
        if live is None or not live.alive(now):
            return 403, {"errors": ["permission denied"]}
        if path == "/v1/auth/token/lookup-self":
            return 200, {
                "data": {
                    "ttl": int(live.remaining(now)),
                    "renewable": live.renewable,
                    "policies": live.policies,
                    "expire_time": None,
                }
            }
        if path == "/v1/auth/token/renew-self":
            return self._renew(token, live, now)
        prefix = f"/v1/{self.mount}/"
        if not path.startswith(prefix):
            return 404, {"errors": [f"no handler for route {path!r}"]}
        kind, _, rest = path[len(prefix) :].partition("/")
        if kind == "data":
            return self._data(method, rest, body)
        if kind == "metadata":
            listing = method == "LIST" or query.get("list") == ["true"]
            return self._metadata("LIST" if listing else method, rest)
        return 404, {"errors": []}

    def _login(self, body: Any, now: float) -> tuple[int, Any]:
        role = self.roles.get(str(body.get("role_id", "")))
        if role is None or role[0] != body.get("secret_id"):
            return 400, {"errors": ["invalid role or secret ID"]}
        token = "hvs." + secrets.token_urlsafe(18)
        self.tokens[token] = Token(role[1], now, True, role[2], now)
        return 200, {
            "auth": {
                "client_token": token,
                "accessor": secrets.token_hex(8),
                "policies": ["bizos"],
                "lease_duration": int(role[1]),
                "renewable": True,
                "metadata": {},
            }
        }

    def _renew(self, token: str, live: Token, now: float) -> tuple[int, Any]:
        if self.refuse_renewals:
            return 403, {"errors": ["permission denied"]}
        if not live.renewable or live.ttl_s == 0:
            return 400, {"errors": ["lease is not renewable"]}
        ttl = live.ttl_s
        if live.max_ttl_s:
            ttl = min(ttl, live.max_ttl_s - (now - live.created_at))
        live.issued_at, live.ttl_s = now, max(ttl, 0.0)
        return 200, {
            "auth": {
                "client_token": token,
                "lease_duration": int(live.ttl_s),
                "renewable": live.renewable,
                "policies": live.policies,
            }
        }

    def _data(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        entry = self.kv.get(path)
        if method == "GET":
            if entry is None or entry.versions[-1] is None:
                return 404, {"errors": []}
            return 200, {
                "data": {"data": dict(entry.versions[-1]), "metadata": _version_meta(entry.version)}
            }
        if method in ("POST", "PUT"):
            cas = (body.get("options") or {}).get("cas")
            current = entry.version if entry else 0
            if cas is not None and int(cas) != current:
                return 400, {
                    "errors": ["check-and-set parameter did not match the current version"]
                }
            entry = self.kv.setdefault(path, Secret())
            entry.versions.append({str(k): str(v) for k, v in (body.get("data") or {}).items()})
            return 200, {"data": _version_meta(entry.version)}
        if method == "DELETE":
            if entry is not None:
                entry.versions.append(None)
            return 204, None
        return 405, {"errors": [f"{method} not supported"]}

    def _metadata(self, method: str, path: str) -> tuple[int, Any]:
        if method == "LIST":
            base = path.strip("/") + "/" if path.strip("/") else ""
            keys = sorted(
                {
                    k[len(base) :].split("/")[0] + ("/" if "/" in k[len(base) :] else "")
                    for k in self.kv
                    if k.startswith(base)
                }
            )
            return (200, {"data": {"keys": keys}}) if keys else (404, {"errors": []})
        entry = self.kv.get(path)
        if method == "DELETE":
            self.kv.pop(path, None)
            return 204, None
        if method == "GET":
            if entry is None:
                return 404, {"errors": []}
            return 200, {
                "data": {
                    "current_version": entry.version,
                    "versions": {str(i + 1): _version_meta(i + 1) for i in range(entry.version)},
                }
            }
        return 405, {"errors": [f"{method} not supported"]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests carry tokens and secret values

            def setup(self) -> None:
                super().setup()
                with double._lock:
                    double._connections.add(self.connection)

            def finish(self) -> None:
                with double._lock:
                    double._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                token = self.headers.get("x-vault-token", "")
                with double._lock:
                    double.requests.append((self.command, url.path))
                    status, payload = double._route(
                        self.command, url.path, parse_qs(url.query), token, body
                    )
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = _serve

        return Handler


def _version_meta(version: int) -> dict[str, Any]:
    return {
        "version": version,
        "created_time": datetime.now(UTC).isoformat(),
        "deletion_time": "",
        "destroyed": False,
        "custom_metadata": None,
    }


class FakeClock:
    """A monotonic clock tests move by hand (shared by the double and the client under test,
    so token lifetimes and cache ages move together without sleeping)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


if __name__ == "__main__":  # a manual try-out: `python -m tests.production.vault_double`
    double = VaultDouble().start()
    print(
        f"export BIZOS_SECRETS_BACKEND=vault VAULT_ADDR={double.addr} "
        f"VAULT_TOKEN={double.add_token(0)}  # the Vault test double; Ctrl-C stops it"
    )
    threading.Event().wait()
