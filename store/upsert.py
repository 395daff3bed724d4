"""``INSERT … ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL: the one primitive behind
every idempotent write in the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless a row with the same unique key exists. True when this call inserted."""
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif conn.dialect.name == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - the store supports exactly these two
        raise NotImplementedError(f"unsupported database dialect {conn.dialect.name!r}")
    result = await conn.execute(stmt)
    return bool(result.rowcount)
