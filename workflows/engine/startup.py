"""How a run finds its compiled template and reads its input, failing cleanly (never a
workflow task retried forever) when either is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from workflows.compiler import CompiledDag, params_error_lines
    from workflows.models import SPEC_MEMO_KEY, RunInput
    from workflows.registry import SpecRegistry

SPEC_PATCH_PREFIX = "bizos-spec-"
INPUT_SHAPE = '{"params": {...}, "tenant": "default", "budget_usd": null}'


def unknown_type(wtype: str, known: Sequence[str]) -> ApplicationError:
    return ApplicationError(
        f"unknown workflow type `{wtype}`: this worker runs {', '.join(sorted(known))}",
        type="UnknownTemplate",
        non_retryable=True,
    )


def registry_spec(registry: SpecRegistry) -> CompiledDag:
    """The template of a run that carries no plan (runs started before plans were carried):
    the memo's pinned version, or the version its first task recorded as a patch marker."""
    wtype = workflow.info().workflow_type
    if wtype not in registry.current:
        raise unknown_type(wtype, list(registry.current))
    pin = workflow.memo_value(SPEC_MEMO_KEY, default=None)
    if isinstance(pin, dict) and "version" in pin:
        dag = registry.version(wtype, int(pin["version"]))
        if dag is None:
            # Not fatal: a worker that has this frozen version can pick the run up.
            raise RuntimeError(
                f"{wtype} was started on spec version {pin['version']}, which this worker "
                f"does not have (it has {registry.known_versions(wtype)}); deploy a worker "
                f"with dag_specs/versions/{pin.get('name')}@{pin['version']}.yaml"
            )
        if pin.get("hash") and pin["hash"] != dag.hash:
            raise ApplicationError(
                f"{wtype} version {dag.version}: the run's spec hash {pin['hash']} differs "
                f"from this worker's {dag.hash}: the spec changed without a version bump",
                type="SpecMismatch",
                non_retryable=True,
            )
        return dag
    # Started without a pin (e.g. `temporal workflow start`): the first workflow task
    # records which version it chose as a patch marker, so replays choose the same.
    for version in reversed(registry.known_versions(wtype)):
        dag = registry.version(wtype, version)
        assert dag is not None
        if workflow.patched(f"{SPEC_PATCH_PREFIX}{dag.name}@{version}"):
            workflow.upsert_memo({SPEC_MEMO_KEY: dag.pin})
            return dag
    raise RuntimeError(f"no spec version of {wtype} matches this run's history")


def decode_input(args: Sequence[RawValue]) -> RunInput:
    wtype = workflow.info().workflow_type
    if len(args) != 1:
        raise ApplicationError(
            f"{wtype} takes one input, {INPUT_SHAPE}; got {len(args)}",
            type="InvalidInput",
            non_retryable=True,
        )
    payload = args[0].payload
    try:
        if payload.metadata.get("encoding") == b"json/plain":
            # What the pydantic converter does, with the worker's one validator: the
            # sandbox's converter is built per run, and its adapter for RunInput with it.
            return RunInput.model_validate_json(payload.data)
        return workflow.payload_converter().from_payload(payload, RunInput)
    except Exception as e:  # the converter raises pydantic or JSON errors
        raise ApplicationError(
            f"{wtype}: input is not a RunInput ({INPUT_SHAPE}): {e}",
            type="InvalidInput",
            non_retryable=True,
        ) from None


def validate_params(dag: CompiledDag, run_input: RunInput) -> dict[str, Any]:
    """The run's params checked against the template's contract, defaults filled in."""
    try:
        params = dag.params_model.model_validate(run_input.params)
    except ValidationError as e:
        raise ApplicationError(
            f"{dag.workflow_type}: bad params: " + "; ".join(params_error_lines(e)),
            type="InvalidParams",
            non_retryable=True,
        ) from None
    return params.model_dump()
