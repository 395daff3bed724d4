"""The agent's final answer as the mode's output model."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from activities.agent_step.errors import AgentOutputInvalid
from activities.catalog.output_models import AgentOutput, output_model

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def parse_output(raw: str, family: str) -> AgentOutput:
    """The final answer as the mode's output model (code fences and prose around the JSON
    object are tolerated; anything else is `AgentOutputInvalid`)."""
    text = _FENCE.sub("", raw.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        raise AgentOutputInvalid(
            f"the final answer is not a JSON object for the {family!r} output model: {raw[:300]!r}"
        )
    try:
        return output_model(family).model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        raise AgentOutputInvalid(
            f"the final answer does not fit the {family!r} output model: {problems}"
        ) from None
