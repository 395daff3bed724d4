"""Step outputs too big for workflow history, stored once per step and read by reference."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.tables import StepOutput, utcnow
from store.upsert import insert_ignore, insert_or_replace

_OUTPUTS = StepOutput.__table__  # type: ignore[attr-defined]
REF_PREFIX = "bizos-output:"


class OutputNotFound(LookupError):
    """No stored output under this reference."""


async def put_output(
    engine: AsyncEngine,
    *,
    ref_key: str,
    workflow_id: str,
    run_id: str,
    step_key: str,
    body: str,
    replace: bool = False,
) -> str:
    """Store ``body`` (JSON text) under ``ref_key``; returns the ref. By default the first
    write stays (what is written under the key never changes). With ``replace`` a later write
    overwrites it: a step's attempts share one key (run + step + item), so an attempt that
    failed after storing its output leaves no row behind, only the next attempt's output."""
    ref = REF_PREFIX + ref_key
    row = {
        "ref": ref,
        "workflow_id": workflow_id,
        "run_id": run_id,
        "step_key": step_key,
        "body": body,
        "size_bytes": len(body.encode()),
        "created_at": utcnow(),
    }
    async with write_transaction(engine) as conn:
        if replace:
            await insert_or_replace(conn, _OUTPUTS, row, key=("ref",))
        else:
            await insert_ignore(conn, _OUTPUTS, row)
    return ref


async def get_output(engine: AsyncEngine, ref: str) -> Any:
    async with engine.connect() as conn:
        body = (await conn.execute(select(_OUTPUTS.c.body).where(_OUTPUTS.c.ref == ref))).scalar()
    if body is None:
        raise OutputNotFound(f"no stored step output {ref!r}")
    return json.loads(body)


async def delete_run_outputs(engine: AsyncEngine, workflow_id: str, run_id: str | None) -> int:
    """Drop a run's stored outputs (every run of the workflow id when ``run_id`` is None)."""
    cond = _OUTPUTS.c.workflow_id == workflow_id
    if run_id is not None:
        cond = cond & (_OUTPUTS.c.run_id == run_id)
    async with write_transaction(engine) as conn:
        result = await conn.execute(delete(_OUTPUTS).where(cond))
    return int(result.rowcount or 0)
