"""Console sessions: an API key is exchanged once, at login, for an opaque session id in an
HttpOnly, SameSite=Strict cookie; the key itself is never stored (not in the page, not in the
session: only its id, tenant, role and name), and every request re-checks that the key is
still valid, so revoking or expiring a key ends its sessions at once.

Sessions live where the rate limits live (DESIGN §12): in Redis, shared by every API replica
(`BIZOS_REDIS_URL`), or in-process on the embedded single-node stack. Each session carries its
own CSRF token; every form posts it back (`csrf_token`) and every non-GET console request
without the matching token is refused (403) before any work is done.

Settings (environment or `.env`): ``BIZOS_CONSOLE_COOKIE_SECURE`` (default off for the local
http stack; on behind TLS), ``BIZOS_CONSOLE_SESSION_TTL_S`` (idle lifetime, default 8 h),
``BIZOS_CONSOLE_TEMPORAL_UI_URL`` (where "open in the Temporal Web UI" links point).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.auth import RANK, Role
from api.redis_conn import guarded

COOKIE = "bizos_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZOS_CONSOLE_", env_file=".env", extra="ignore")

    cookie_secure: bool = Field(default=False, description="send the cookie over HTTPS only")
    session_ttl_s: int = Field(default=8 * 3600, ge=60, description="idle lifetime")
    temporal_ui_url: str = Field(
        default="http://localhost:8233", description="the Temporal Web UI, for run links"
    )


@dataclass
class ConsoleUser:
    """The principal behind a session: the same tenant, role and name as its API key."""

    tenant: str
    role: str
    name: str
    key_id: str
    csrf: str
    flashes: list[list[str]] = field(default_factory=list)

    def may(self, role: Role) -> bool:
        return RANK.get(self.role, -1) >= RANK[role]


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, other requests answer 401."""


class CsrfRefused(Exception):
    """A state-changing console request without its session's CSRF token."""


class RoleRefused(Exception):
    def __init__(self, role: str, user: ConsoleUser) -> None:
        super().__init__(f"this needs the {role} role; you are signed in as {user.role}")
        self.role = role


def _digest(session_id: str) -> str:
    # The store holds a hash of the id: a leaked dump of Redis gives no usable cookie.
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Session records in Redis (`client`) or in this process (`client=None`)."""

    def __init__(
        self,
        client: aioredis.Redis | None,
        *,
        prefix: str = "bizos",
        ttl_s: int = 8 * 3600,
        deadline_s: float = 1.0,
    ) -> None:
        self._client = client
        self._prefix = f"{prefix}:console:session:"
        self._ttl_s = ttl_s
        self._deadline_s = deadline_s
        self._memory: dict[str, tuple[float, str]] = {}

    @classmethod
    def from_backend(cls, backend: Any) -> SessionStore:
        """On the API's Redis backend (`api.redis_conn.open_backend`): shared by replicas."""
        settings = ConsoleSettings()
        return cls(
            backend.client,
            prefix=backend.settings.redis_key_prefix,
            ttl_s=settings.session_ttl_s,
            deadline_s=backend.settings.deadline_s,
        )

    async def _call(self, what: str, coro: Any) -> Any:
        # the limits' own guard: unreachable Redis -> LimitsUnavailable -> 503 + Retry-After
        async with guarded(f"console session {what}", self._deadline_s):
            return await coro

    async def create(self, user: ConsoleUser) -> str:
        session_id = secrets.token_urlsafe(32)
        await self.save(session_id, user)
        return session_id

    async def save(self, session_id: str, user: ConsoleUser) -> None:
        data = json.dumps(asdict(user))
        key = _digest(session_id)
        if self._client is None:
            self._memory[key] = (time.monotonic() + self._ttl_s, data)
            return
        await self._call("save", self._client.set(self._prefix + key, data, ex=self._ttl_s))

    async def load(self, session_id: str) -> ConsoleUser | None:
        key = _digest(session_id)
        if self._client is None:
            found = self._memory.get(key)
            if found is None or found[0] < time.monotonic():
                self._memory.pop(key, None)
                return None
            self._memory[key] = (time.monotonic() + self._ttl_s, found[1])  # sliding
            raw: Any = found[1]
        else:
            raw = await self._call("load", self._client.getex(self._prefix + key, ex=self._ttl_s))
            if raw is None:
                return None
        return ConsoleUser(**json.loads(raw))

    async def delete(self, session_id: str) -> None:
        key = _digest(session_id)
        if self._client is None:
            self._memory.pop(key, None)
            return
        await self._call("delete", self._client.delete(self._prefix + key))


def console_settings(request: Request) -> ConsoleSettings:
    found = getattr(request.app.state, "console_settings", None)
    if found is None:
        found = request.app.state.console_settings = ConsoleSettings()
    return found


def sessions(request: Request) -> SessionStore:
    """The app's session store; an app whose lifespan did not open one (tests on a bare
    ASGI transport) keeps its sessions in-process."""
    found = getattr(request.app.state, "sessions", None)
    if found is None:
        found = request.app.state.sessions = SessionStore(
            None, ttl_s=console_settings(request).session_ttl_s
        )
    return found


async def _key_still_valid(request: Request, user: ConsoleUser) -> bool:
    from store.keys import KeyNotFound
    from store.tables import utcnow

    try:
        info = await request.app.state.store.get_key(user.tenant, user.key_id)
    except KeyNotFound:
        return False
    return bool(info.usable(utcnow()))


async def current_user(request: Request) -> ConsoleUser:
    """The signed-in user (LoginRequired otherwise), counted against the same per-tenant and
    per-key rate limits as the key's API calls; non-GET requests must carry the CSRF token."""
    cached = getattr(request.state, "console_user", None)
    if cached is not None:
        return cached
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise LoginRequired()
    user = await sessions(request).load(session_id)
    if user is None or not await _key_still_valid(request, user):
        if user is not None:
            await sessions(request).delete(session_id)
        raise LoginRequired()
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await _check_csrf(request, user)
    from api.admission import check_rate_limit

    await check_rate_limit(request, user)
    request.state.console_user = user
    request.state.console_session_id = session_id
    request.state.principal = user
    return user


async def _check_csrf(request: Request, user: ConsoleUser) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette caches it: handlers read it again for free
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), user.csrf.encode()):
        raise CsrfRefused()


def role(needed: Role) -> Any:
    async def check(request: Request) -> ConsoleUser:
        user = await current_user(request)
        if not user.may(needed):
            raise RoleRefused(needed, user)
        return user

    return check


async def flash(request: Request, user: ConsoleUser, text: str, kind: str = "ok") -> None:
    """A message shown once on the next page (after a redirect)."""
    user.flashes.append([kind, text])
    await sessions(request).save(request.state.console_session_id, user)


async def take_flashes(request: Request, user: ConsoleUser) -> list[list[str]]:
    if not user.flashes:
        return []
    shown, user.flashes = user.flashes, []
    await sessions(request).save(request.state.console_session_id, user)
    return shown


# Page parameters: `user: Operator` admits operators and admins and gives their session.
Viewer = Annotated[ConsoleUser, Depends(role("viewer"))]
Approver = Annotated[ConsoleUser, Depends(role("approver"))]
Operator = Annotated[ConsoleUser, Depends(role("operator"))]
Admin = Annotated[ConsoleUser, Depends(role("admin"))]
