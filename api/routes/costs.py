"""What the caller's tenant spent, from the ledger: `GET /costs?group_by=…&since=&until=`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from api.auth import Viewer

router = APIRouter(tags=["costs"])


@router.get("/costs")
async def costs(
    request: Request,
    who: Viewer,
    group_by: Literal["agent", "template", "provider", "model", "day"] = Query("agent"),
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    lines = await request.app.state.store.costs_by(
        who.tenant, group_by, since=since, until=until
    )
    return {
        "tenant": who.tenant,
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
