"""What crosses the Temporal boundary around a step's data: an output too big for its share
of the payload goes to the store and travels as a bounded view with a reference, and views
given back as step inputs are resolved to the stored outputs before the step runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from activities.agent_step.keys import step_key
from activities.contract import (
    INLINE_OUTPUT_LIMIT_BYTES,
    OUTPUT_VIEW_LIMIT_BYTES,
    REF_KEY,
    AgentStepInput,
    AgentStepResult,
    bounded_view,
    is_output_ref,
)

if TYPE_CHECKING:
    from store import Store

StoreGetter = Callable[[], Awaitable["Store"]]
OUTPUT_REF_PREFIX = "bizos-output:"


async def deliver(
    result: AgentStepResult, output: Any, inp: AgentStepInput, store: StoreGetter
) -> AgentStepResult:
    """Put `output` in the result inline, or by reference with its bounded view when its
    JSON passes the step's inline limit (a foreach item's share of the aggregate)."""
    body = json.dumps(output, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(body.encode()) <= (inp.inline_limit_bytes or INLINE_OUTPUT_LIMIT_BYTES):
        result.output = output
        return result
    # One row per step (run + step + item), not per attempt: a later attempt replaces what an
    # earlier one stored before failing, so no attempt leaves a row nothing references.
    ref = await (await store()).put_output(
        ref_key=inp.idempotency_key,
        workflow_id=inp.workflow_id,
        run_id=inp.run_id,
        step_key=step_key(inp),
        body=body,
        replace=True,
    )
    result.output_ref = ref
    result.output_sha256 = hashlib.sha256(body.encode()).hexdigest()
    result.output_view = bounded_view(output, ref, inp.view_limit_bytes or OUTPUT_VIEW_LIMIT_BYTES)
    return result


def _has_refs(value: Any) -> bool:
    if is_output_ref(value) and value[REF_KEY].startswith(OUTPUT_REF_PREFIX):
        return True
    if isinstance(value, dict):
        return any(_has_refs(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_refs(v) for v in value)
    return False


async def resolve_inputs(inputs: dict[str, Any], store: StoreGetter) -> dict[str, Any]:
    """`inputs` with every output view replaced by the whole stored output (the step reads
    what the workflow could only carry a summary of). The store opens only when needed."""
    if not _has_refs(inputs):
        return inputs
    opened = await store()

    async def walk(value: Any) -> Any:
        if is_output_ref(value) and value[REF_KEY].startswith(OUTPUT_REF_PREFIX):
            return await opened.get_output(value[REF_KEY])
        if isinstance(value, dict):
            return {k: await walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await walk(v) for v in value]
        return value

    resolved: dict[str, Any] = await walk(inputs)
    return resolved
