"""Cost reports from the ledger: one tenant's spending grouped by agent, template, provider,
model or day, over a time window. Reused calls are $0 rows and count once as calls.

Estimate runs (`bizos specs cost`, the console's "estimate cost": ids
`<tenant>.<template>.estimate-…`) bill their token estimates to the ledger so their per-step
figures are real arithmetic, but they spend nothing: they are left out of reports and of the
monthly budget."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.records import CostLine
from store.tables import LedgerEntry

ESTIMATE_KEY_PREFIX = "estimate-"  # starters.estimate's run keys (imported there from here)
GroupBy = Literal["agent", "template", "provider", "model", "day"]
_LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]


def _template_of(workflow_id: str) -> str:
    """`<tenant>.<template>.<key>` (or `<tenant>.agent.<agent>.<id>` for one agent's run)."""
    parts = workflow_id.split(".")
    return parts[1] if len(parts) > 2 else workflow_id


async def costs_by(
    engine: AsyncEngine,
    tenant: str,
    group_by: GroupBy,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CostLine]:
    c = _LEDGER.c
    where = [c.tenant == tenant, ~c.workflow_id.like(f"{tenant}.%.{ESTIMATE_KEY_PREFIX}%")]
    if since is not None:
        where.append(c.created_at >= since)
    if until is not None:
        where.append(c.created_at < until)
    if group_by in ("agent", "provider", "model"):
        key = getattr(c, group_by)
    elif group_by == "day":
        key = func.date(c.created_at)  # SQLite and PostgreSQL both have date()
    else:
        key = c.workflow_id
    query = (
        select(
            key.label("key"),
            func.count().label("calls"),
            func.coalesce(func.sum(c.tokens_in), 0),
            func.coalesce(func.sum(c.tokens_out), 0),
            func.coalesce(func.sum(c.usd_nanos), 0),
        )
        .where(*where)
        .group_by(key)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    merged: dict[str, CostLine] = {}
    for key_value, calls, tokens_in, tokens_out, nanos in rows:
        name = _template_of(str(key_value)) if group_by == "template" else str(key_value)
        line = merged.setdefault(name, CostLine(key=name))
        line.calls += int(calls)
        line.tokens_in += int(tokens_in)
        line.tokens_out += int(tokens_out)
        line.usd_nanos += int(nanos)
    return sorted(merged.values(), key=lambda line: (-line.usd_nanos, line.key))
