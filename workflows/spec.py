"""The spec language: one pydantic model per YAML construct of `dag_specs/*.yaml`.

Every key is documented in docs/spec.md. Models forbid unknown keys so a typo is an error,
not a silently ignored setting. Checks that need the whole spec (ids, references, cycles,
agents, size) live in the compiler; these models check one construct at a time.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from activities.catalog.durations import parse_duration

# `\Z`, not `$`: `$` also matches before a trailing newline, so "draft\n" passed as an id.
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}\Z")
SPEC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}\Z")
# A param becomes a field of a pydantic model: no leading `_`, nothing in its `model_` space.
PARAM_NAME = re.compile(r"^(?!model_)[a-z][a-z0-9_]{0,47}\Z")

# Bounds of what the spec language accepts as text shown to people (Temporal's Web UI
# summaries, prompts) and as CEL; the file itself is at most 256 KiB.
DESCRIPTION_LIMIT = 400
SUMMARY_LIMIT = 200
PROMPT_LIMIT = 4000
EXPRESSION_LIMIT = 2000

# Durations: at least a millisecond (a shorter one rounds to zero, which Temporal reads as
# "no timeout" and refuses for activities) and at most ten years (Python and protobuf
# durations overflow past a few thousand).
MIN_DURATION = timedelta(milliseconds=1)
MAX_DURATION = timedelta(days=3650)


def _spec_duration(value: Any) -> timedelta:
    if isinstance(value, float) and value != value:  # NaN: timedelta's own error is unclear
        raise ValueError(f"not a duration: {value!r}")
    try:
        d = parse_duration(value)
    except OverflowError:  # inf, 1e20, "99999999999w": past what timedelta holds
        raise ValueError(f"duration {value!r} is longer than {MAX_DURATION.days}d") from None
    if d < MIN_DURATION:
        raise ValueError(f"duration {value!r} is shorter than 1ms")
    if d > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than {MAX_DURATION.days}d")
    return d


Duration = Annotated[timedelta, BeforeValidator(_spec_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamType(StrEnum):
    string = "string"
    integer = "integer"
    number = "number"
    boolean = "boolean"
    array = "array"
    object = "object"


class ParamSpec(_Strict):
    """One run parameter: `topic: {type: string, required: true}`."""

    type: ParamType
    description: str = Field(default="", max_length=DESCRIPTION_LIMIT)
    required: StrictBool = False
    default: Any = None
    items: ParamType | None = Field(default=None, description="element type of an array")
    enum: list[StrictStr | StrictInt | StrictFloat | StrictBool] | None = Field(
        default=None, min_length=1, description="the allowed values (scalars)"
    )
    minimum: StrictFloat | None = Field(default=None, allow_inf_nan=False)
    maximum: StrictFloat | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.items is not None and self.type is not ParamType.array:
            raise ValueError("`items` only applies to `type: array`")
        if self.required and self.default is not None:
            raise ValueError("a required param cannot have a default")
        numeric = self.type in (ParamType.integer, ParamType.number)
        for bound in ("minimum", "maximum"):
            if getattr(self, bound) is not None and not numeric:
                raise ValueError(f"`{bound}` only applies to `type: integer` or `type: number`")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"`minimum` {self.minimum:g} is above `maximum` {self.maximum:g}")
        if self.enum is not None:
            if self.type in (ParamType.array, ParamType.object):
                raise ValueError(f"`enum` does not apply to `type: {self.type.value}`")
            if len(set(map(repr, self.enum))) != len(self.enum):
                raise ValueError("`enum` lists a value twice")
            wrong = [v for v in self.enum if not _is_type(v, self.type)]
            if wrong:
                raise ValueError(f"`enum` value {wrong[0]!r} is not of `type: {self.type.value}`")
        return self


def _is_type(value: Any, t: ParamType) -> bool:
    if t is ParamType.string:
        return isinstance(value, str)
    if t is ParamType.boolean:
        return isinstance(value, bool)
    if t is ParamType.integer:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is ParamType.number:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


class RetrySpec(_Strict):
    """Temporal's RetryPolicy, by its own names. Always finite."""

    initial_interval: Duration = timedelta(seconds=1)
    backoff_coefficient: StrictFloat = Field(default=2.0, ge=1.0, le=10.0)
    maximum_interval: Duration | None = None
    maximum_attempts: StrictInt = Field(default=3, ge=1, le=100)
    non_retryable_error_types: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _intervals(self) -> RetrySpec:
        # Temporal refuses the activity (and so the workflow task, again and again) otherwise
        if self.maximum_interval is not None and self.maximum_interval < self.initial_interval:
            raise ValueError(
                "`maximum_interval` is shorter than `initial_interval` "
                "(Temporal refuses such a policy)"
            )
        return self


GROUP_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_LEVELS = 5
MAX_REVISIONS = 10


class ApproverLevel(_Strict):
    """One level of an escalation chain: the tenant's approver group asked, and how long it
    has before the request moves to the next level."""

    group: str = Field(pattern=GROUP_NAME, description="an approver group of the run's tenant")
    timeout: Duration


def _one_timeout_source(spec: BaseModel, kind: str) -> None:
    levels = getattr(spec, "approvers", None)
    if levels is not None and "timeout" in spec.model_fields_set:
        raise ValueError(
            f"{kind}: give `timeout` per level in `approvers`, not both (the last level's "
            "timeout is the one `on_timeout` follows)"
        )


class ApprovalSpec(_Strict):
    """A person approves or rejects (update `decide`, signals `approve`/`reject`/`revise`)."""

    prompt: str = Field(min_length=1, max_length=PROMPT_LIMIT)
    timeout: Duration = timedelta(days=7)
    on_timeout: Literal["approve", "reject", "fail"] = "reject"
    approvers: list[ApproverLevel] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LEVELS,
        description="escalation chain: each level's group and timeout, in order",
    )
    revise: str | None = Field(
        default=None, description="agent step re-run with the feedback of a `revise` decision"
    )
    max_revisions: StrictInt | None = Field(default=None, ge=1, le=MAX_REVISIONS)
    bind: list[str] = Field(
        default_factory=list,
        description="steps whose outputs the approver must have seen: decisions carry their digest",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ApprovalSpec:
        _one_timeout_source(self, "approval")
        if self.max_revisions is not None and self.revise is None:
            raise ValueError("approval: `max_revisions` needs `revise: <step>`")
        if len(set(self.bind)) != len(self.bind):
            raise ValueError("approval: `bind` names a step twice")
        return self

    @property
    def revisions_allowed(self) -> int:
        if self.revise is None:
            return 0
        return self.max_revisions if self.max_revisions is not None else 1

    @property
    def last_timeout(self) -> timedelta:
        return self.approvers[-1].timeout if self.approvers else self.timeout


class ChoiceSpec(_Strict):
    """A person (or the `by` expression) picks one option; steps of other options skip."""

    prompt: str = Field(min_length=1, max_length=PROMPT_LIMIT)
    options: dict[str, list[str]]
    timeout: Duration = timedelta(days=7)
    default: str | None = Field(default=None, description="option taken on timeout")
    by: str | None = Field(
        default=None,
        max_length=EXPRESSION_LIMIT,
        description="CEL choosing the option without a human",
    )
    approvers: list[ApproverLevel] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LEVELS,
        description="escalation chain: each level's group and timeout, in order",
    )

    @property
    def last_timeout(self) -> timedelta:
        return self.approvers[-1].timeout if self.approvers else self.timeout

    @model_validator(mode="after")
    def _options(self) -> ChoiceSpec:
        _one_timeout_source(self, "choice")
        if self.approvers is not None and self.by is not None:
            raise ValueError(
                "choice: `approvers` ask people; a choice made `by` an expression has none"
            )
        if len(self.options) < 2:
            raise ValueError("a choice needs at least two options")
        for name in self.options:
            if not STEP_ID.match(name):
                raise ValueError(f"option name {name!r} must be snake_case")
        if self.default is not None and self.default not in self.options:
            raise ValueError(
                f"default {self.default!r} is not one of the options ({', '.join(self.options)})"
            )
        return self


class OverlapPolicy(StrEnum):
    """What a schedule does when a run is due while the previous one still runs (Temporal's
    ScheduleOverlapPolicy, by name)."""

    skip = "skip"
    buffer_one = "buffer_one"
    buffer_all = "buffer_all"
    cancel_other = "cancel_other"
    terminate_other = "terminate_other"
    allow_all = "allow_all"


class ScheduleSpec(_Strict):
    """A recurring run of the template: a Temporal schedule kept in step by `bizos schedule
    sync`. Not part of the run's behaviour, so it is left out of the spec hash: changing a
    cron needs no version bump."""

    id: str = Field(description="unique in the spec; the Temporal schedule is bizos.<name>.<id>")
    cron: list[str] = Field(min_length=1, description="one or more cron expressions (UTC)")
    params: dict[str, Any] = Field(default_factory=dict, description="checked against `params`")
    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    jitter: Duration | None = Field(default=None, description="random delay added to each run")
    paused: StrictBool = False
    overlap: OverlapPolicy = OverlapPolicy.skip
    note: str = Field(default="", max_length=400, description="shown in the Web UI")

    @field_validator("cron", mode="before")
    @classmethod
    def _cron_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


StepKind = Literal["agent", "approval", "choice", "workflow"]


class StepSpec(_Strict):
    """One node of the DAG. Exactly one kind: `agent`+`mode`, `approval`, `choice`, `workflow`."""

    id: str
    summary: str | None = Field(
        default=None, max_length=SUMMARY_LIMIT, description="one line shown in the Web UI"
    )
    # kinds
    agent: str | None = None
    mode: str | None = None
    approval: ApprovalSpec | None = None
    choice: ChoiceSpec | None = None
    workflow: str | None = Field(default=None, description="template run as a child workflow")
    # wiring
    with_: dict[str, Any] | str = Field(
        default_factory=dict,
        alias="with",
        description="inputs: a mapping (values may use ${...}), or one `${expr}` giving a mapping",
    )
    after: list[str] = Field(default_factory=list)
    trigger: Literal["all_success", "all_done"] = "all_success"
    when: str | None = Field(default=None, max_length=EXPRESSION_LIMIT)
    foreach: str | list[Any] | None = None
    max_parallel: StrictInt | None = Field(default=None, ge=1, le=1000)
    max_items: StrictInt = Field(default=100, ge=1, le=10_000)
    # execution
    retry: RetrySpec | None = None
    timeout: Duration | None = Field(default=None, description="start-to-close of one attempt")
    deadline: Duration | None = Field(default=None, description="schedule-to-close, all attempts")
    heartbeat: Duration | None = Field(default=None, description="heartbeat timeout")
    on_error: Literal["fail", "continue"] = "fail"

    @field_validator("after", mode="before")
    @classmethod
    def _after_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("with_")
    @classmethod
    def _with_shape(cls, v: dict[str, Any] | str) -> dict[str, Any] | str:
        if isinstance(v, str) and not (v.startswith("${") and v.endswith("}")):
            raise ValueError("`with` is a mapping, or one `${expr}` that gives a mapping")
        return v

    @property
    def kind(self) -> StepKind:
        if self.agent is not None:
            return "agent"
        if self.approval is not None:
            return "approval"
        if self.choice is not None:
            return "choice"
        return "workflow"

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        kinds = [
            k
            for k, present in (
                ("agent", self.agent is not None),
                ("approval", self.approval is not None),
                ("choice", self.choice is not None),
                ("workflow", self.workflow is not None),
            )
            if present
        ]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a step has exactly one kind of agent, approval, choice, workflow (found {found})"
            )
        kind = kinds[0]
        if kind == "agent" and not self.mode:
            raise ValueError("an agent step needs `mode`")
        if kind != "agent" and self.mode is not None:
            raise ValueError("`mode` only applies to agent steps")
        if self.foreach is not None and kind not in ("agent", "workflow"):
            raise ValueError("`foreach` only applies to agent and workflow steps")
        if self.foreach is not None and self.max_parallel is None:
            raise ValueError("`foreach` needs `max_parallel` (how many items run at once)")
        if self.foreach is None and self.max_parallel is not None:
            raise ValueError("`max_parallel` only applies with `foreach`")
        if kind in ("approval", "choice"):
            for key in ("retry", "timeout", "deadline", "heartbeat"):
                if getattr(self, key) is not None:
                    raise ValueError(f"`{key}` does not apply to {kind} steps (use {kind}.timeout)")
            if self.with_:
                raise ValueError(f"`with` does not apply to {kind} steps")
        return self


class DagSpec(_Strict):
    """A workflow template: `dag_specs/<name>.yaml`."""

    name: str
    version: StrictInt = Field(ge=1, le=1_000_000)
    description: str = Field(min_length=1, max_length=DESCRIPTION_LIMIT)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    example: dict[str, Any] | None = Field(
        default=None, description="example params, checked against `params`"
    )
    budget_usd: StrictFloat | None = Field(default=None, gt=0, allow_inf_nan=False)
    budget_approval_timeout: Duration = timedelta(hours=24)
    execution_timeout: Duration = timedelta(days=7)
    outputs: list[str] | None = Field(
        default=None, description="steps whose outputs form the run result (default: sinks)"
    )
    steps: list[StepSpec] = Field(min_length=1)
    schedules: list[ScheduleSpec] = Field(
        default_factory=list, description="cron schedules `bizos schedule sync` keeps in Temporal"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not SPEC_NAME.match(v):
            raise ValueError(f"name {v!r} must be snake_case (a-z, 0-9, _)")
        return v

    @field_validator("params")
    @classmethod
    def _param_names(cls, v: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in v:
            if not PARAM_NAME.match(name):
                raise ValueError(
                    f"param name {name!r} must be snake_case (a-z, 0-9, _; at most 48 "
                    "characters, not starting with `model_`)"
                )
        return v


def workflow_type_for(name: str) -> str:
    """`content_creation` -> `ContentCreation` (the Temporal workflow type)."""
    return "".join(part.capitalize() for part in name.split("_"))
