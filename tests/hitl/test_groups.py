"""Approver groups over the API: per tenant (another tenant's group is 404 and its own groups
are its own), admins change them, operators read them, members without a key are reported,
and `bizos groups` manages the same groups from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from starters.cli import app
from tests.hitl.conftest import Hitl


async def test_groups_are_per_tenant_and_only_admins_change_them(hitl: Hitl) -> None:
    api = hitl.api
    body = {
        "members": [
            {"principal": "approver@acme", "email": "ann@acme.example"},
            {"principal": "ghost@acme", "slack_user": "U0GHOST"},
        ],
        "slack_channel": "#reviews",
    }
    r = await api.http.put("/v1/approver-groups/legal", json=body, headers=api.as_("acme:admin"))
    assert r.status_code == 200, r.text
    assert r.json()["members_without_key"] == ["ghost@acme"]  # a typo shows at once
    assert [m["principal"] for m in r.json()["members"]] == ["approver@acme", "ghost@acme"]

    forbidden = await api.http.put(
        "/v1/approver-groups/legal", json=body, headers=api.as_("acme:operator")
    )
    assert forbidden.status_code == 403
    read = await api.http.get("/v1/approver-groups/legal", headers=api.as_("acme:operator"))
    assert read.status_code == 200 and read.json()["slack_channel"] == "#reviews"
    assert (
        await api.http.get("/v1/approver-groups", headers=api.as_("acme:viewer"))
    ).status_code == 403

    # globex sees none of acme's groups, and its own `legal` is another group
    assert (
        await api.http.get("/v1/approver-groups/legal", headers=api.as_("globex:admin"))
    ).status_code == 404
    assert (
        await api.http.delete("/v1/approver-groups/legal", headers=api.as_("globex:admin"))
    ).status_code == 404
    names = await api.http.get("/v1/approver-groups", headers=api.as_("globex:admin"))
    assert "legal" not in [g["name"] for g in names.json()]
    mine = {"members": [{"principal": "admin@globex"}]}
    r = await api.http.put("/v1/approver-groups/legal", json=mine, headers=api.as_("globex:admin"))
    assert r.status_code == 200 and r.json()["members_without_key"] == []
    again = await api.http.get("/v1/approver-groups/legal", headers=api.as_("acme:admin"))
    assert [m["principal"] for m in again.json()["members"]] == ["approver@acme", "ghost@acme"]

    bad = {"members": [{"principal": "a"}, {"principal": "a"}]}
    r = await api.http.put("/v1/approver-groups/legal", json=bad, headers=api.as_("acme:admin"))
    assert r.status_code == 422 and "twice" in r.json()["detail"]
    gone = await api.http.delete("/v1/approver-groups/legal", headers=api.as_("acme:admin"))
    assert gone.status_code == 204
    assert (
        await api.http.get("/v1/approver-groups/legal", headers=api.as_("acme:admin"))
    ).status_code == 404
    kept = await api.http.get("/v1/approver-groups/legal", headers=api.as_("globex:admin"))
    assert kept.status_code == 200


def test_the_cli_sets_lists_and_removes_groups(tmp_path: Path) -> None:
    runner = CliRunner()

    def bizos(*args: str) -> Result:
        return runner.invoke(app, list(args), env={"BIZOS_HOME": str(tmp_path)})

    assert bizos("tenants", "create", "acme").exit_code == 0
    made = bizos(
        "groups", "set", "editors", "ann", "bob", "-t", "acme",
        "--email", "ann=ann@acme.example", "--slack", "bob=U0BOB", "-o", "json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["members_without_key"] == ["ann", "bob"]
    listed = json.loads(bizos("groups", "ls", "-t", "acme", "-o", "json").stdout)
    assert listed[0]["members"] == [
        {"principal": "ann", "email": "ann@acme.example"},
        {"principal": "bob", "slack_user": "U0BOB"},
    ]
    assert json.loads(bizos("groups", "ls", "-t", "default", "-o", "json").stdout) == []
    refused = bizos("groups", "set", "editors", "ann", "-t", "acme", "--email", "carl=c@x.io")
    assert refused.exit_code == 1 and "not a member" in refused.output
    assert bizos("groups", "rm", "editors", "-t", "acme").exit_code == 0
    missing = bizos("groups", "rm", "editors", "-t", "acme")
    assert missing.exit_code == 1 and "no approver group" in missing.output
