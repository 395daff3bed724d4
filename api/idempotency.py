"""Idempotency-Key records for the POSTs that start, cancel, resume or decide.

A route calls ``await records.begin(tenant, key, fingerprint(method, path, body))`` and gets:

* :class:`New` — the first request with this key: this request owns it; run it, then
  ``await records.finish(tenant, key, status, body, headers)`` (or ``abandon`` when nothing
  happened and the client may simply retry).
* :class:`Replay` — the first request finished: answer its status, body and headers again
  (for ``BIZOS_IDEMPOTENCY_TTL_S``, 24 h by default, counted from the finish).
* :class:`InFlight` — the first is still running: answer 409 (``Retry-After``).
* :class:`Mismatch` — the key was used with a different method, path or body: answer 422.

The request fingerprint is the sha256 of ``METHOD\\npath\\n`` + the body as canonical JSON
(keys sorted, no insignificant whitespace, UTF-8), so the same JSON sent with other spacing
or key order is the same request; a body that is not JSON is hashed as its raw bytes. The
path is the URL path only: query strings are not part of it.

State machine, atomic in Redis (one Lua script per transition, one hash per (tenant, key),
key ``<prefix>:idem:<tenant>:<sha256(key)>``): absent → in-flight (with the fingerprint and a
lease of ``BIZOS_IDEMPOTENCY_INFLIGHT_TTL_S``, 120 s by default) → done (status, body,
headers; TTL 24 h). Without Redis the same machine runs in-process (single node).

Losing the record does not allow a duplicate start. The Temporal workflow id of a keyed
start is derived from (tenant, template or agent, key) only — :func:`workflow_id_for`,
``<tenant>.<template>.idem-<sha256(tenant, template, key)[:16]>`` — so if Redis restarts
empty (it keeps no persistence here), the in-flight lease expires after a crashed replica,
or a record outlives its TTL, the retried start reuses the same workflow id and Temporal
itself refuses a second execution (its default id-reuse and id-conflict policies: the route
treats ``WorkflowAlreadyStartedError`` as the existing execution). Redis saves the round
trip and replays the exact first answer; Temporal is what guarantees "at most once".
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from api.redis_conn import LimitsUnavailable, RedisBackend, guarded

__all__ = [
    "Begin",
    "IdempotencyStore",
    "InFlight",
    "LimitsUnavailable",
    "Mismatch",
    "New",
    "Replay",
    "check_key",
    "fingerprint",
    "workflow_id_for",
]

MAX_KEY_LENGTH = 255


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class New:
    """First time for this key: the caller owns it and must `finish` (or `abandon`) it."""

    token: str = field(repr=False)  # proves ownership to `finish`/`abandon`


@dataclass(frozen=True)
class Replay:
    """The first request finished: answer this again."""

    status: int
    body: Any  # what `finish` was given: a JSON value, or bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class InFlight:
    """The first request with this key is still running: answer 409."""

    retry_after_s: float  # at most: the rest of its lease


@dataclass(frozen=True)
class Mismatch:
    """The key was already used for a different request: answer 422."""


Begin = New | Replay | InFlight | Mismatch


# --------------------------------------------------------------------------- pure helpers


def check_key(key: str) -> str:
    """An Idempotency-Key header value: 1 to 255 visible ASCII characters (else ValueError)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    if not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise ValueError("Idempotency-Key must be visible ASCII characters (no spaces)")
    return key


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def fingerprint(method: str, path: str, body: Any = None) -> str:
    """sha256 of method + path + canonical JSON body. `body`: a parsed JSON value, or the
    raw bytes/str of the request (parsed as JSON when they are; else hashed as they are)."""
    if isinstance(body, bytes | bytearray | str):
        raw = body.encode() if isinstance(body, str) else bytes(body)
        if raw.strip():
            try:
                payload = canonical_json(json.loads(raw))
            except ValueError:
                payload = b"raw:" + raw
        else:
            payload = b"null"
    else:
        payload = canonical_json(body)
    h = hashlib.sha256()
    h.update(method.upper().encode() + b"\n" + path.encode() + b"\n")
    h.update(payload)
    return h.hexdigest()


def workflow_id_for(tenant: str, template_or_agent: str, key: str) -> str:
    """The Temporal workflow id of a keyed start: the same (tenant, template, key) always
    gives the same id, different tenants never share one (see the module docstring)."""
    digest = hashlib.sha256(
        b"\x00".join(part.encode() for part in (tenant, template_or_agent, key))
    ).hexdigest()
    return f"{tenant}.{template_or_agent}.idem-{digest[:16]}"


def _encode_body(body: Any) -> tuple[bytes, bytes]:
    if isinstance(body, bytes | bytearray):
        return b"bytes", bytes(body)
    return b"json", canonical_json(body)


def _decode_body(kind: bytes, raw: bytes) -> Any:
    return bytes(raw) if kind == b"bytes" else json.loads(raw)


# --------------------------------------------------------------------------- Redis scripts

# KEYS[1] record; ARGV: fingerprint, token, in-flight lease (ms)
BEGIN_LUA = """
local r = redis.call('HMGET', KEYS[1], 'state', 'fp', 'status', 'kind', 'body', 'headers',
                    'token')
if not r[1] then
  redis.call('HSET', KEYS[1], 'state', 'inflight', 'fp', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new'}
end
if r[2] ~= ARGV[1] then
  return {'mismatch'}
end
if r[1] == 'inflight' then
  if r[7] == ARGV[2] then
    -- this very begin, sent again by the client after its reply timed out: still ours
    return {'new'}
  end
  return {'inflight', redis.call('PTTL', KEYS[1])}
end
return {'done', r[3], r[4], r[5], r[6]}
"""

# KEYS[1] record; ARGV: token ('' = any owner), status, kind, body, headers, ttl (ms)
FINISH_LUA = """
local r = redis.call('HMGET', KEYS[1], 'state', 'token')
if r[1] ~= 'inflight' then
  return 0
end
if ARGV[1] ~= '' and r[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'kind', ARGV[3],
           'body', ARGV[4], 'headers', ARGV[5])
redis.call('HDEL', KEYS[1], 'token')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""

# KEYS[1] record; ARGV: token ('' = any owner)
ABANDON_LUA = """
local r = redis.call('HMGET', KEYS[1], 'state', 'token')
if r[1] ~= 'inflight' then
  return 0
end
if ARGV[1] ~= '' and r[2] ~= ARGV[1] then
  return 0
end
return redis.call('DEL', KEYS[1])
"""


# --------------------------------------------------------------------------- the store


class IdempotencyStore:
    """Idempotency-Key records in Redis, or in-process when `client` is None."""

    def __init__(
        self,
        client: aioredis.Redis | None,
        *,
        key_prefix: str = "bizos",
        ttl_s: int = 24 * 3600,
        inflight_ttl_s: int = 120,
        deadline_s: float = 1.0,
    ) -> None:
        self._client = client
        self._prefix = f"{key_prefix}:idem"
        self.ttl_s = ttl_s
        self.inflight_ttl_s = inflight_ttl_s
        self._deadline_s = deadline_s
        # in-process fallback: record key -> (expires at, monotonic; fields)
        self._memory: dict[str, tuple[float, dict[str, Any]]] = {}
        if client is not None:
            self._begin = client.register_script(BEGIN_LUA)
            self._finish = client.register_script(FINISH_LUA)
            self._abandon = client.register_script(ABANDON_LUA)

    @classmethod
    def from_backend(cls, backend: RedisBackend) -> IdempotencyStore:
        s = backend.settings
        return cls(
            backend.client,
            key_prefix=s.redis_key_prefix,
            ttl_s=s.idempotency_ttl_s,
            inflight_ttl_s=s.idempotency_inflight_ttl_s,
            deadline_s=s.deadline_s,
        )

    @property
    def shared(self) -> bool:
        return self._client is not None

    def record_key(self, tenant: str, key: str) -> str:
        return f"{self._prefix}:{tenant}:{hashlib.sha256(key.encode()).hexdigest()}"

    async def begin(self, tenant: str, key: str, request_fingerprint: str) -> Begin:
        rkey = self.record_key(tenant, key)
        token = secrets.token_hex(16)
        if self._client is None:
            return self._begin_memory(rkey, request_fingerprint, token)
        async with guarded("idempotency", self._deadline_s):
            reply = await self._begin(
                keys=[rkey], args=[request_fingerprint, token, self.inflight_ttl_s * 1000]
            )
        outcome = reply[0]
        if outcome == b"new":
            return New(token)
        if outcome == b"mismatch":
            return Mismatch()
        if outcome == b"inflight":
            return InFlight(max(0.0, int(reply[1]) / 1000))
        _, status, kind, body, headers = reply
        return Replay(int(status), _decode_body(kind, body), json.loads(headers))

    async def finish(
        self,
        tenant: str,
        key: str,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        token: str | None = None,
    ) -> bool:
        """Record the first response (replayed for `ttl_s`). With `token` (from `New`), only
        if this request still owns the key. False when there was nothing in flight to finish
        (already finished, or the lease ran out): the response is then not recorded."""
        rkey = self.record_key(tenant, key)
        kind, raw = _encode_body(body)
        hdrs = canonical_json(dict(headers or {}))
        if self._client is None:
            return self._finish_memory(rkey, token, int(status), kind, raw, hdrs)
        async with guarded("idempotency", self._deadline_s):
            done = await self._finish(
                keys=[rkey],
                args=[token or "", int(status), kind, raw, hdrs, self.ttl_s * 1000],
            )
        return bool(done)

    async def abandon(self, tenant: str, key: str, *, token: str | None = None) -> bool:
        """Drop an in-flight record without an answer to replay (the request did nothing, e.g.
        it failed before reaching Temporal): the client's retry is then `New` again."""
        rkey = self.record_key(tenant, key)
        if self._client is None:
            entry = self._live(rkey)
            if entry is None or entry["state"] != "inflight":
                return False
            if token and entry["token"] != token:
                return False
            del self._memory[rkey]
            return True
        async with guarded("idempotency", self._deadline_s):
            return bool(await self._abandon(keys=[rkey], args=[token or ""]))

    # in-process fallback: each method runs without an await, so it is atomic on the loop

    def _live(self, rkey: str) -> dict[str, Any] | None:
        now = time.monotonic()
        if len(self._memory) > 1024:  # prune now and then
            for k in [k for k, (exp, _) in self._memory.items() if exp <= now]:
                del self._memory[k]
        entry = self._memory.get(rkey)
        if entry is None or entry[0] <= now:
            self._memory.pop(rkey, None)
            return None
        return entry[1]

    def _begin_memory(self, rkey: str, fp: str, token: str) -> Begin:
        rec = self._live(rkey)
        if rec is None:
            fields = {"state": "inflight", "fp": fp, "token": token}
            self._memory[rkey] = (time.monotonic() + self.inflight_ttl_s, fields)
            return New(token)
        if rec["fp"] != fp:
            return Mismatch()
        if rec["state"] == "inflight":
            return InFlight(max(0.0, self._memory[rkey][0] - time.monotonic()))
        return Replay(
            rec["status"], _decode_body(rec["kind"], rec["body"]), json.loads(rec["headers"])
        )

    def _finish_memory(
        self, rkey: str, token: str | None, status: int, kind: bytes, raw: bytes, hdrs: bytes
    ) -> bool:
        rec = self._live(rkey)
        if rec is None or rec["state"] != "inflight" or (token and rec["token"] != token):
            return False
        fields = {"state": "done", "fp": rec["fp"], "status": status, "kind": kind,
                  "body": raw, "headers": hdrs}  # fmt: skip
        self._memory[rkey] = (time.monotonic() + self.ttl_s, fields)
        return True

    def ttl_remaining_s(self, tenant: str, key: str) -> float | None:
        """In-process records only: seconds left (None: no record). Redis: use PTTL."""
        rkey = self.record_key(tenant, key)
        if self._live(rkey) is None:
            return None
        return self._memory[rkey][0] - time.monotonic()
