"""The dashboards' panel queries with their template variables filled from a fixed table, as
Grafana would send them (shared by test_dashboards and test_prometheus)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "dokploy" / "grafana"
PROMETHEUS = REPO / "deploy" / "dokploy" / "prometheus"

VARIABLES = {
    # a selection of one value, as a person picks it
    "tenant": "acme",
    # "All" (the variables' all_value), as the dashboards open
    "template": ".*",
    "agent": ".*",
    "provider": ".*",
    # a multi-selection renders as a regex alternation
    "task_queue": "(bizos-workflows|bizos-agents-intelligence|bizos-agents-system)",
    # Grafana's own
    "__rate_interval": "1m",
    "__range": "10m",
    "__interval": "15s",
}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str


def dashboards_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bizos_dashboards", GRAFANA / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fill(expr: str) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in VARIABLES, f"no value in the table for ${name}"
        return VARIABLES[name]

    # longest names first: $__rate_interval before $__range
    return re.sub(r"\$(__[a-z_]+|[a-z_]+)", value, expr)


def panel_queries() -> list[PanelQuery]:
    found = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append(PanelQuery(board["title"], panel["title"], fill(target["expr"])))
    return found


def variable_queries() -> set[tuple[str, str]]:
    """(metric, label) of every `label_values(metric, label)` variable of the dashboards."""
    found = set()
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for var in json.loads(path.read_text())["templating"]["list"]:
            m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", var["query"]["query"])
            assert m, f"{path.name}: variable {var['name']} is not a label_values query"
            found.add((m.group(1), m.group(2)))
    return found
