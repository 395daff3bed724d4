"""Run plans: what a run records at start (spec text + catalog slice + its children's plans)
and the worker's cache of compiled plans, one per distinct plan hash.

Building a plan reads the local spec registry and catalog (clients, or the run-start local
activity); compiling one reads nothing but the plan, so replay never depends on files that
changed after the run began.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

from activities.catalog import AgentCatalog, default_catalog
from activities.catalog.safe_yaml import SpecFileError, load_yaml_text
from workflows.catalog_slice import slice_catalog
from workflows.compiler import CompiledDag, CompileError, compile_spec
from workflows.models import RunPlan
from workflows.registry import SpecRegistry, default_registry
from workflows.spec import workflow_type_for

COMPILED_PLANS_KEPT = 256


class PlanError(ValueError):
    """A recorded plan does not compile (it was built by another release, or edited)."""


def plan_hash(plan: RunPlan) -> str:
    body = plan.model_dump(mode="json", exclude={"hash"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_plan(
    dag: CompiledDag,
    registry: SpecRegistry | None = None,
    catalog: AgentCatalog | None = None,
) -> RunPlan:
    """The plan of a run of `dag` (a current or frozen version), with its children's
    current versions, from this process's registry and catalog."""
    registry = registry if registry is not None else default_registry()
    catalog = catalog if catalog is not None else default_catalog()
    agents = {s.spec.agent for s in dag.steps.values() if s.spec.agent}
    children: dict[str, RunPlan] = {}
    for step in dag.steps.values():
        if step.child_type is not None and step.spec.workflow not in children:
            assert step.spec.workflow is not None
            children[step.spec.workflow] = build_plan(
                registry.get(step.child_type), registry, catalog
            )
    plan = RunPlan(
        name=dag.name,
        version=dag.version,
        spec_hash=dag.hash,
        source=dag.source,
        spec=dag.text,
        catalog=slice_catalog(catalog, agents),
        children=children,
    )
    plan.hash = plan_hash(plan)
    return plan


# plan hash -> (the plan compiled, the plan itself: the one copy the worker's runs share)
_compiled: OrderedDict[str, tuple[CompiledDag, RunPlan]] = OrderedDict()
_lock = threading.Lock()


def compile_plan(plan: RunPlan) -> CompiledDag:
    """The plan compiled, once per worker process per distinct plan (LRU-bounded)."""
    return compile_shared(plan)[0]


def compile_shared(plan: RunPlan) -> tuple[CompiledDag, RunPlan]:
    """The plan compiled, and the worker's copy of it: every run of one plan holds that one
    copy instead of its own decoded input's (a cached run is kept for as long as it waits;
    a plan carries its spec text and catalog slice). Plans are never mutated once built."""
    key = plan.hash or plan_hash(plan)
    with _lock:
        found = _compiled.get(key)
        if found is not None:
            _compiled.move_to_end(key)
            return found
    try:
        raw = load_yaml_text(plan.spec, plan.source)
        dag = compile_spec(
            raw,
            plan.source,
            catalog=plan.catalog,
            templates=set(plan.children),
            text=plan.spec,
        )
    except (SpecFileError, CompileError) as e:
        raise PlanError(f"the run's recorded plan for {plan.name} v{plan.version}: {e}") from None
    if dag.hash != plan.spec_hash:
        raise PlanError(
            f"the run's recorded plan for {plan.name}: spec hash {dag.hash} differs from the "
            f"recorded {plan.spec_hash}"
        )
    with _lock:
        found = _compiled.setdefault(key, (dag, plan))
        _compiled.move_to_end(key)
        while len(_compiled) > COMPILED_PLANS_KEPT:
            _compiled.popitem(last=False)
    return found


def child_plan(plan: RunPlan, child_type: str) -> RunPlan:
    for name, child in plan.children.items():
        if workflow_type_for(name) == child_type:
            return child
    raise PlanError(f"plan {plan.name} has no child template of type {child_type}")
