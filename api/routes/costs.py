"""What the caller's tenant spent, from the ledger: `GET /costs?group_by=…&since=&until=`.
`cost_report` is the grouping, shared with the console's costs page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request

from api.auth import Viewer

router = APIRouter(tags=["costs"])

GroupBy = Literal["agent", "template", "provider", "model", "day"]
GROUPS: tuple[str, ...] = ("agent", "template", "provider", "model", "day")


async def cost_report(
    store: Any,
    tenant: str,
    group_by: GroupBy,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The tenant's ledger grouped by `group_by` over [since, until), biggest first, with
    the total."""
    lines = await store.costs_by(tenant, group_by, since=since, until=until)
    return {
        "tenant": tenant,
        "group_by": group_by,
        "total_usd": round(sum(line.usd_nanos for line in lines) / 1e9, 9),
        "groups": [
            {
                "key": line.key,
                "calls": line.calls,
                "tokens_in": line.tokens_in,
                "tokens_out": line.tokens_out,
                "usd": round(line.usd, 9),
            }
            for line in lines
        ],
    }


@router.get("/costs")
async def costs(
    request: Request,
    who: Viewer,
    group_by: GroupBy = "agent",
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    return await cost_report(
        request.app.state.store, who.tenant, group_by, since=since, until=until
    )
