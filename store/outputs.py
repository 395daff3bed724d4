"""Step outputs too big for workflow history, stored once per step and read by reference."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables import StepOutput, utcnow
from store.upsert import insert_ignore

_OUTPUTS = StepOutput.__table__  # type: ignore[attr-defined]
REF_PREFIX = "bizos-output:"


class OutputNotFound(LookupError):
    """No stored output under this reference."""


async def put_output(
    engine: AsyncEngine, *, ref_key: str, workflow_id: str, run_id: str, step_key: str, body: str
) -> str:
    """Store ``body`` (JSON text) under ``ref_key`` (run + step + attempt: an attempt's
    output is fixed once written, so a repeated write keeps the first). Returns the ref."""
    ref = REF_PREFIX + ref_key
    async with engine.begin() as conn:
        await insert_ignore(
            conn,
            _OUTPUTS,
            {
                "ref": ref,
                "workflow_id": workflow_id,
                "run_id": run_id,
                "step_key": step_key,
                "body": body,
                "size_bytes": len(body.encode()),
                "created_at": utcnow(),
            },
        )
    return ref


async def get_output(engine: AsyncEngine, ref: str) -> Any:
    async with engine.connect() as conn:
        body = (await conn.execute(select(_OUTPUTS.c.body).where(_OUTPUTS.c.ref == ref))).scalar()
    if body is None:
        raise OutputNotFound(f"no stored step output {ref!r}")
    return json.loads(body)
