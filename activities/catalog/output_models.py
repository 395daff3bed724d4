"""What an agent step returns: one pydantic model per output family.

Eighty agent modes share five shapes (DESIGN §5) instead of eighty one-offs:

* ``report``   — findings with evidence (research, analytics, audits, documentation)
* ``plan``     — an objective broken into steps with owners and horizons (strategy, campaigns)
* ``table``    — columns and rows (rankings, schedules, forecasts, brackets)
* ``creative`` — variants of a piece of content or an asset (copy, ads, designs, code)
* ``decision`` — options scored and one chosen, with confidence (routing, signals, reviews)

Every family shares the fields a workflow reads without knowing the family: ``title``,
``summary`` (one line for progress views), ``metrics`` (numbers the budget, `when:`
expressions and dashboards can use), ``recommendations`` and ``artifacts`` (the files
the tools wrote, as ``blob://<tenant>/<sha256>/<filename>`` refs). Unknown keys are
ignored so a real model that adds a field still validates; the required fields are what
makes an answer an answer.

This module is light (pydantic only): the catalog and the CLI import it.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OutputFamily = Literal["report", "plan", "table", "creative", "decision"]
Cell = str | float | int | bool | None


class AgentOutput(BaseModel):
    """Fields common to every family."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1)
    summary: str = Field(min_length=1, description="one or two sentences with the key numbers")
    metrics: dict[str, float] = Field(default_factory=dict)
    recommendations: list[str] = Field(default_factory=list)
    artifacts: list[str] = Field(default_factory=list, description="files written by tools")


class Finding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1)
    detail: str = ""
    source: str = Field(default="", description="tool or reference the finding comes from")


class ReportOutput(AgentOutput):
    findings: list[Finding] = Field(min_length=1)


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    description: str = ""
    owner: str = ""
    horizon: str = Field(default="", description="when: e.g. 'week 1', 'Q3', 'day 0-7'")


class PlanOutput(AgentOutput):
    objective: str = Field(min_length=1)
    steps: list[PlanStep] = Field(min_length=1)
    kpis: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)


class TableOutput(AgentOutput):
    columns: list[str] = Field(min_length=1)
    rows: list[list[Cell]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rows_match_columns(self) -> TableOutput:
        width = len(self.columns)
        bad = [i for i, row in enumerate(self.rows) if len(row) != width]
        if bad:
            raise ValueError(f"rows {bad[:5]} do not have {width} cells (one per column)")
        return self


class CreativeVariant(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    headline: str = ""
    body: str = ""
    format: str = Field(default="", description="e.g. blog, email, 1200x628 png, svg, python")


class CreativeOutput(AgentOutput):
    variants: list[CreativeVariant] = Field(min_length=1)
    guidelines: list[str] = Field(default_factory=list)


class DecisionOption(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    score: float = 0.0
    rationale: str = ""


class DecisionOutput(AgentOutput):
    question: str = Field(min_length=1)
    decision: str = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    options: list[DecisionOption] = Field(min_length=1)


OUTPUT_MODELS: dict[str, type[AgentOutput]] = {
    "report": ReportOutput,
    "plan": PlanOutput,
    "table": TableOutput,
    "creative": CreativeOutput,
    "decision": DecisionOutput,
}


def output_model(family: str) -> type[AgentOutput]:
    try:
        return OUTPUT_MODELS[family]
    except KeyError:
        raise KeyError(
            f"unknown output family {family!r}; expected one of {', '.join(OUTPUT_MODELS)}"
        ) from None


def schema_hint(family: str) -> str:
    """The family's JSON schema, compact, for the task's expected output (what a real model
    must produce). Built once per family per process by the caller's cache."""
    return json.dumps(output_model(family).model_json_schema(), separators=(",", ":"))
