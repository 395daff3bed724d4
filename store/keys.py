"""API keys: 256-bit random secrets, shown once as ``bizos_<id>_<secret>``, kept only as
the SHA-256 of the secret and compared in constant time.

``<id>`` (``bk_`` + 8 hex digits) is public: it names the key in lists, audit entries and
``revoke``, and finds its row; the secret is checked against the stored hash with
`hmac.compare_digest`. Unknown, malformed, revoked and expired keys all resolve to None,
through the same hash-and-compare path. Nothing here logs a key or a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import ROLES, KeyInfo, Principal
from store.tables import ApiKey, as_utc, utcnow
from store.tenants import require_tenant

_KEYS = ApiKey.__table__  # type: ignore[attr-defined]
KEY_PREFIX = "bizos_"
KEY_ID_PREFIX = "bk_"
_KEY_ID_HEX = 8
_KEY_ID_LEN = len(KEY_ID_PREFIX) + _KEY_ID_HEX
LAST_USED_GRANULARITY = timedelta(minutes=1)
"""`last_used_at` moves at most this often (a write per request would be a hot row)."""
_CREATE_ATTEMPTS = 5
MAX_KEY_LENGTH = 256
# Compared against when the key id is unknown, so that path hashes and compares too.
_DUMMY_HASH = hashlib.sha256(b"bizos-no-such-key").hexdigest()


class KeyNotFound(LookupError):
    """No key with this id in this tenant."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(raw_key: str) -> tuple[str, str] | None:
    """``bizos_<id>_<secret>`` → (id, secret); None when it is not of that shape."""
    if not raw_key.startswith(KEY_PREFIX):
        return None
    rest = raw_key[len(KEY_PREFIX) :]
    key_id, sep, secret = (
        rest[:_KEY_ID_LEN],
        rest[_KEY_ID_LEN : _KEY_ID_LEN + 1],
        rest[_KEY_ID_LEN + 1 :],
    )
    if sep != "_" or not key_id.startswith(KEY_ID_PREFIX) or not secret:
        return None
    return key_id, secret


def _info(row: object) -> KeyInfo:
    def opt(value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    return KeyInfo(
        id=row.id,  # type: ignore[attr-defined]
        tenant=row.tenant,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=row.role,  # type: ignore[attr-defined]
        created_at=as_utc(row.created_at),  # type: ignore[attr-defined]
        expires_at=opt(row.expires_at),  # type: ignore[attr-defined]
        revoked_at=opt(row.revoked_at),  # type: ignore[attr-defined]
        last_used_at=opt(row.last_used_at),  # type: ignore[attr-defined]
    )


_INFO_COLUMNS = [
    _KEYS.c.id,
    _KEYS.c.tenant,
    _KEYS.c.name,
    _KEYS.c.role,
    _KEYS.c.created_at,
    _KEYS.c.expires_at,
    _KEYS.c.revoked_at,
    _KEYS.c.last_used_at,
]


async def create_key(
    engine: AsyncEngine,
    tenant: str,
    name: str,
    role: str,
    expires_at: datetime | None = None,
) -> tuple[KeyInfo, str]:
    """A new key for principal ``name`` of ``tenant`` (which must exist) with ``role``:
    its info and the raw key, which exists nowhere else: show it once, never store it."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not name or len(name) > 128:
        raise ValueError("a key needs a principal name of 1 to 128 characters")
    if expires_at is not None and as_utc(expires_at) <= utcnow():
        raise ValueError("the key would expire before it is created")
    await require_tenant(engine, tenant)
    for _ in range(_CREATE_ATTEMPTS):
        key_id = KEY_ID_PREFIX + secrets.token_hex(_KEY_ID_HEX // 2)
        secret = secrets.token_urlsafe(32)  # 256 bits
        try:
            async with write_transaction(engine) as conn:
                await conn.execute(
                    _KEYS.insert().values(
                        id=key_id,
                        tenant=tenant,
                        name=name,
                        role=role,
                        secret_sha256=hash_secret(secret),
                        created_at=utcnow(),
                        expires_at=None if expires_at is None else as_utc(expires_at),
                    )
                )
                row = (await conn.execute(select(*_INFO_COLUMNS).where(_KEYS.c.id == key_id))).one()
        except IntegrityError:  # the 32-bit public id collided: draw again
            continue
        return _info(row), f"{KEY_PREFIX}{key_id}_{secret}"
    raise RuntimeError("could not allocate an API key id")


async def list_keys(engine: AsyncEngine, tenant: str) -> list[KeyInfo]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(*_INFO_COLUMNS)
                .where(_KEYS.c.tenant == tenant)
                .order_by(_KEYS.c.created_at, _KEYS.c.id)
            )
        ).all()
    return [_info(r) for r in rows]


async def get_key(engine: AsyncEngine, tenant: str, key_id: str) -> KeyInfo:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(*_INFO_COLUMNS).where(_KEYS.c.tenant == tenant, _KEYS.c.id == key_id)
            )
        ).first()
    if row is None:
        raise KeyNotFound(f"tenant {tenant!r} has no API key {key_id!r}")
    return _info(row)


async def revoke_key(engine: AsyncEngine, tenant: str, key_id: str) -> KeyInfo:
    """Revoke a key of ``tenant`` (another tenant's key is not found). Revoking a revoked
    key keeps its first revocation time."""
    async with write_transaction(engine) as conn:
        await conn.execute(
            update(_KEYS)
            .where(_KEYS.c.tenant == tenant, _KEYS.c.id == key_id, _KEYS.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return await get_key(engine, tenant, key_id)


async def principal_for_key(
    engine: AsyncEngine, raw_key: str, now: datetime | None = None
) -> Principal | None:
    """Who ``raw_key`` authenticates, or None (malformed, unknown, wrong secret, revoked,
    expired). Records the use (``last_used_at``) at most once a minute."""
    now = as_utc(now) if now is not None else utcnow()
    raw_key = raw_key[:MAX_KEY_LENGTH]  # real keys are ~60 characters: hash no more
    parts = split_key(raw_key)
    key_id, secret = parts if parts is not None else ("", raw_key)
    row = None
    if parts is not None:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        _KEYS.c.id,
                        _KEYS.c.tenant,
                        _KEYS.c.name,
                        _KEYS.c.role,
                        _KEYS.c.secret_sha256,
                        _KEYS.c.expires_at,
                        _KEYS.c.revoked_at,
                        _KEYS.c.last_used_at,
                    ).where(_KEYS.c.id == key_id)
                )
            ).first()
    expected = row.secret_sha256 if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(hash_secret(secret).encode(), expected.encode())
    if row is None or not matches:
        return None
    if row.revoked_at is not None:
        return None
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return None
    last = row.last_used_at
    if last is None or now - as_utc(last) >= LAST_USED_GRANULARITY:
        async with write_transaction(engine) as conn:
            await conn.execute(
                update(_KEYS)
                .where(
                    _KEYS.c.id == row.id,
                    or_(
                        _KEYS.c.last_used_at.is_(None),
                        _KEYS.c.last_used_at <= now - LAST_USED_GRANULARITY,
                    ),
                )
                .values(last_used_at=now)
            )
    return Principal(tenant=row.tenant, role=row.role, name=row.name, key_id=row.id)
