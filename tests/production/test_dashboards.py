"""The committed Grafana dashboards are what deploy/dokploy/grafana/dashboards.py generates
(grafana-foundation-sdk for Grafana 11.6), and the provisioning files point at them."""

from __future__ import annotations

import json

import yaml

from tests.production.dashboard_queries import GRAFANA, dashboards_module


def test_committed_dashboards_are_the_generated_ones() -> None:
    generated = dashboards_module().rendered()
    committed = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert set(committed) == set(generated), (
        "regenerate: python deploy/dokploy/grafana/dashboards.py"
    )
    for name, text in generated.items():
        assert committed[name] == text, (
            f"{name} is stale: python deploy/dokploy/grafana/dashboards.py"
        )


def test_six_dashboards_each_with_queries_on_the_provisioned_datasource() -> None:
    boards = [json.loads(t) for t in dashboards_module().rendered().values()]
    titles = {b["title"] for b in boards}
    assert titles == {
        "BizOS · Agent health and performance",
        "BizOS · Workflow executions",
        "BizOS · Cost per agent, template and tenant",
        "BizOS · LLM usage and cost",
        "BizOS · Approvals",
        "BizOS · Worker pools and task queues",
    }
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in datasources}
    for board in boards:
        assert len({b["uid"] for b in boards}) == len(boards)
        for panel in board["panels"]:
            assert panel["targets"], f"{board['title']}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "bizos.yml").read_text())[
        "providers"
    ][0]
    # the Grafana image bakes deploy/dokploy/grafana/ in at /etc/grafana/bizos/
    assert provider["options"]["path"] == "/etc/grafana/bizos/dashboards"
