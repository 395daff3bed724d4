"""The templates a tenant can run: their params as JSON Schema and their picture."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.auth import require
from api.problems import Problem
from workflows.mermaid import to_mermaid
from workflows.registry import default_registry

router = APIRouter(tags=["templates"])


def _summary(dag: Any) -> dict[str, Any]:
    return {
        "name": dag.name,
        "version": dag.version,
        "description": dag.spec.description,
        "workflow_type": dag.workflow_type,
        "steps": len(dag.steps),
        "budget_usd": dag.spec.budget_usd,
    }


@router.get("/templates", dependencies=[Depends(require("viewer"))])
async def list_templates() -> list[dict[str, Any]]:
    return [_summary(d) for d in sorted(default_registry().current.values(), key=lambda d: d.name)]


@router.get("/templates/{name}", dependencies=[Depends(require("viewer"))])
async def get_template(name: str) -> dict[str, Any]:
    try:
        dag = default_registry().by_name(name)
    except KeyError as e:
        raise Problem(404, "Not found", str(e).strip("'\"")) from None
    return {
        **_summary(dag),
        "params": dag.params_model.model_json_schema(),
        "example": dag.spec.example,
        "mermaid": to_mermaid(dag),
        "steps": [
            {"id": s.id, "kind": s.kind, "after": list(s.after), "summary": s.summary}
            for s in dag.steps.values()
        ],
    }
