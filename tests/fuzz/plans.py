"""Compile a drawn spec the way a spec file is compiled (YAML text, then the compiler), and
build the plan a run of it carries, with the child template's plan."""

from __future__ import annotations

from typing import Any

import yaml

from activities.catalog import default_catalog
from tests.fuzz.dags import CHILD_NAME, CHILD_SPEC
from workflows.catalog_slice import slice_catalog
from workflows.compiler import CompiledDag, compile_spec, load_spec_text
from workflows.models import RunPlan
from workflows.plans import plan_hash


def to_yaml(spec: Any) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def compile_text(text: str, source: str) -> CompiledDag:
    """Load and compile like `compile_file`: only CompileError may come out."""
    raw = load_spec_text(text, source)
    return compile_spec(raw, source, templates={CHILD_NAME}, text=text)


def compile_dict(spec: dict[str, Any]) -> CompiledDag:
    return compile_text(to_yaml(spec), f"fuzz/{spec['name']}.yaml")


def plan_of(dag: CompiledDag, children: dict[str, RunPlan] | None = None) -> RunPlan:
    agents = {s.spec.agent for s in dag.steps.values() if s.spec.agent}
    plan = RunPlan(
        name=dag.name,
        version=dag.version,
        spec_hash=dag.hash,
        source=dag.source,
        spec=dag.text,
        catalog=slice_catalog(default_catalog(), agents),
        children=children or {},
    )
    plan.hash = plan_hash(plan)
    return plan


def child_plans(dag: CompiledDag) -> dict[str, RunPlan]:
    if not any(s.spec.workflow == CHILD_NAME for s in dag.steps.values()):
        return {}
    return {CHILD_NAME: plan_of(compile_dict(CHILD_SPEC))}
