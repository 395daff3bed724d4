"""``INSERT … ON CONFLICT DO NOTHING`` (and ``DO UPDATE``) for SQLite and PostgreSQL: the
primitives behind every idempotent write in the store."""

from __future__ import annotations

from collections.abc import Sequence
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


async def insert_or_replace(
    conn: AsyncConnection, table: Table, values: dict[str, Any], key: Sequence[str]
) -> None:
    """Insert, or overwrite every other column of the row with the same ``key`` (a unique
    or primary key of ``table``): the last write wins."""
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values)
    elif conn.dialect.name == "sqlite":
        stmt = sqlite.insert(table).values(**values)
    else:  # pragma: no cover - the store supports exactly these two
        raise NotImplementedError(f"unsupported database dialect {conn.dialect.name!r}")
    updates = {c: stmt.excluded[c] for c in values if c not in key}
    await conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=updates))
