"""Cross-tenant matrix: tenant A (`acme`) makes real resources through the API (template and
agent runs, and whatever else the app lets a tenant own: schedules, webhooks, agent
configurations, artifacts); then every role of the other tenants calls every route of the
OpenAPI document with A's real ids, with guessed ids and with listing filters.

- A route taking an id of a tenant-owned resource answers exactly what it answers for an id
  that exists nowhere (404, or the 403 of a role too low for the route): never 200, 409 …
- A list or catalog route answers 200 (or the role's 403) with nothing of A's in it.
- No body names A's ids, run ids, principals or tenant (what the caller itself sent is
  removed from the body before searching: a 404 may echo the id asked for).

The route list is `app.openapi()`: a new route is in the matrix, or in ALLOWED with a reason,
or the test fails naming it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.app_support import ROLES, Api, running_api
from tests.support import eventually

A = "acme"
ATTACKERS = ("globex", "acme-eu")
MARK = "zq7acmeonly"  # in every free text A writes, so a leaked note or URL is found
# Path parameters naming something a tenant owns: the matrix feeds them A's ids and guesses.
OWNED = {"execution_id", "schedule_id", "endpoint_id", "version", "ref"}
# Path parameters naming a catalog entry every tenant sees (not a tenant's resource).
CATALOG = {"agent_id": ["noop", "noop_001"], "template": ["approval_flow"], "name": ["approval_flow"]}
FILTERS = {"template": ["approval_flow"], "agent": ["noop"], "from": ["1"], "to": ["2"]}
"""Values for listing filters and query parameters (enums come from the schema)."""
NOWHERE = {"version": "987654"}  # an id of the parameter's type that exists nowhere
ALLOWED: dict[str, str] = {
    "POST /v1/workflows/{template}/execute": "starts a run of the caller's own tenant; its id "
    "is minted server-side with the caller's tenant (covered by test_routes)",
    "POST /v1/agents/{agent_id}/execute": "starts a run of the caller's own tenant; id minted "
    "server-side",
    "POST /v1/agents/{agent_id}/configure": "creates a configuration version of the caller's "
    "own tenant; takes no id of another tenant's",
    "POST /v1/schedules": "creates a schedule of the caller's own tenant (named "
    "`<tenant>.<id>`); the matrix checks below that A's schedule id is free for B (no 409)",
    "POST /v1/webhooks": "registers an endpoint of the caller's own tenant; ids are minted "
    "server-side",
    "PUT /v1/secrets/providers/{name}": "sets a provider key of the caller's own tenant (the "
    "path names a key, not another tenant's resource; tests/production/test_secrets_admin.py)",
    "DELETE /v1/secrets/providers/{name}": "removes a provider key of the caller's own tenant "
    "(tests/production/test_secrets_admin.py)",
    "PUT /v1/approver-groups/{name}": "creates or replaces a group of the caller's own tenant; "
    "another tenant's group of that name is untouched (tests/hitl/test_groups.py)",
    "DELETE /v1/approver-groups/{name}": "deletes a group of the caller's own tenant; another "
    "tenant's is 404 and kept (tests/hitl/test_groups.py)",
    "GET /v1/links/{token}": "no API key: the signed token is the credential and names its "
    "tenant; forged or altered tokens are 404 (tests/hitl/test_links.py)",
    "POST /v1/links/{token}": "no API key: the signed token is the credential (see GET); "
    "tests/hitl/test_links.py",
}
BODIES: dict[str, Any] = {
    "ResumeBody": {"params": {}},
    "DecisionBody": {"step": "review", "decision": "approve", "comment": "x"},
}


@dataclass
class Owned:
    ids: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> A's values
    markers: set[str] = field(default_factory=set)  # strings that must never reach B
    other_runs: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def api(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    async with running_api(temporal_env, tmp_path_factory.mktemp("matrix-home")) as api:
        yield api


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


async def _ok(api: Api, who: str, method: str, path: str, **kw: Any) -> Any:
    r = await api.http.request(method, path, headers=api.as_(who), **kw)
    assert r.status_code < 300, (method, path, r.status_code, r.text)
    return r.json() if r.content else None


async def _tenant_a(api: Api, paths: set[str]) -> Owned:
    """A's resources, made over the API as A's own keys."""
    own = Owned()
    run = await _ok(
        api, f"{A}:operator", "POST", "/v1/workflows/approval_flow/execute",
        json={"params": {"topic": MARK, "channels": ["blog"]}},
    )
    flow = run["execution_id"]

    async def waiting() -> bool:
        r = await api.http.get(f"/v1/workflows/{flow}/status", headers=api.as_(f"{A}:viewer"))
        return r.status_code == 200 and "review" in r.json()["progress"]["waiting"]

    await eventually(waiting, what="A's run waiting on review")
    agent = await _ok(
        api, f"{A}:operator", "POST", "/v1/agents/noop/execute",
        json={"mode": "echo", "inputs": {"note": MARK}, "wait": True},
    )
    executions = [flow, agent["execution_id"]]
    own.ids["execution_id"] = executions
    own.markers |= {*executions, run["run_id"], agent["run_id"], f"@{A}"}
    if "/v1/executions/{execution_id}/artifacts" in paths:
        refs = await _ok(api, f"{A}:viewer", "GET", f"/v1/executions/{executions[1]}/artifacts")
        own.ids["ref"] = [str(r["ref"]) for r in refs] or ["0"]
    if "/v1/schedules" in paths:
        sid = f"nightly-{MARK}"
        await _ok(
            api, f"{A}:admin", "POST", "/v1/schedules",
            json={
                "schedule_id": sid, "template": "approval_flow", "cron": ["0 3 * * *"],
                "params": {"topic": MARK, "channels": ["blog"]}, "paused": True, "note": MARK,
            },
        )
        own.ids["schedule_id"] = [sid, f"{A}.{sid}"]
        own.markers.add(sid)
    if "/v1/webhooks" in paths:
        hook = await _ok(
            api, f"{A}:admin", "POST", "/v1/webhooks",
            json={"url": f"https://{MARK}.example/hook", "events": ["completed"]},
        )
        own.ids["endpoint_id"] = [hook["id"]]
        own.markers |= {hook["id"], f"{MARK}.example"}
    if "/v1/agents/{agent_id}/configure" in paths:
        made = await _ok(
            api, f"{A}:admin", "POST", "/v1/agents/noop/configure",
            json={"config": {}, "note": MARK, "activate": True},
        )
        own.ids["version"] = [str(made.get("version", 1)), "1", "2"]
    for tenant in ATTACKERS:  # a run of each other tenant: its id is a guess for the rest
        other = await _ok(
            api, f"{tenant}:operator", "POST", "/v1/agents/noop/execute",
            json={"mode": "echo", "inputs": {}, "wait": True},
        )
        own.other_runs[tenant] = other["execution_id"]
    return own


def _guesses(param: str, real: list[str], attacker: str, own: Owned) -> list[str]:
    out = list(real)
    for value in real:
        out += [value[:-1] + ("0" if value[-1] != "0" else "1"), value.upper()]
        if param in ("execution_id", "schedule_id"):
            bare = value.removeprefix(f"{A}.")
            out += [f"{attacker}.{value}", f"{attacker}.{bare}", f"{A}.{bare}", f"{A}..{bare}"]
    if param == "execution_id":
        out += [f"{A}.", A, f"{A}.agent.noop.000000000000", f"{A}.approval_flow.%"]
        out += [run for tenant, run in own.other_runs.items() if tenant != attacker]
    return list(dict.fromkeys(out))


def _leaks(text: str, sent: list[str], own: Owned) -> list[str]:
    for value in sorted(sent, key=len, reverse=True):
        text = text.replace(value, "").replace(quote(value, safe=""), "")
    found = [m for m in own.markers | {MARK} if m.lower() in text.lower()]
    if re.search(rf"(?<![\w-]){A}(?![\w-])", text, re.IGNORECASE):
        found.append(f"tenant `{A}`")
    return found


def _body(op: dict[str, Any]) -> Any:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = schema.get("schema", {}).get("$ref", "")
    return BODIES.get(ref.rsplit("/", 1)[-1], {}) if ref else None


async def test_no_tenant_sees_or_touches_another_tenants_resources(api: Api) -> None:
    spec = api.app.openapi()
    own = await _tenant_a(api, set(spec["paths"]))
    # Positive control: the same search finds A's markers in what A itself is shown.
    for path in ("/v1/approvals", "/v1/executions", "/v1/schedules", "/v1/webhooks"):
        if path in spec["paths"]:
            r = await api.http.get(path, headers=api.as_(f"{A}:admin"))
            assert r.status_code == 200 and _leaks(r.text, [], own), (path, r.text[:300])
    attempts, leaks, wrong = 0, [], []
    unexercised = []
    for method, path, op in _operations(spec):
        label = f"{method} {path}"
        if label in ALLOWED:
            continue
        params = [p for p in op.get("parameters", []) if p["in"] == "path"]
        names = [p["name"] for p in params]
        unknown = [n for n in names if n not in OWNED and n not in CATALOG]
        missing = [n for n in names if n in OWNED and n not in own.ids]
        if unknown or missing or (method != "GET" and not any(n in OWNED for n in names)):
            unexercised.append(f"{label} (params {unknown + missing or names})")
            continue
        base: dict[str, str] = {}  # required query parameters, always sent
        variants: list[tuple[str, str]] = []  # one more parameter per listing filter
        for q in (p for p in op.get("parameters", []) if p["in"] == "query"):
            schema = q.get("schema", {})
            enum = schema.get("enum") or next(
                (s.get("enum") for s in schema.get("anyOf", []) if s.get("enum")), None
            )
            values = enum or FILTERS.get(q["name"], [])
            if q.get("required"):
                assert values, f"{label}: no value for required query parameter {q['name']}"
                base[q["name"]] = values[0]
            variants += [(q["name"], v) for v in values]
        queries = [base] + [{**base, k: v} for k, v in variants]
        for attacker in ATTACKERS:
            combos: list[dict[str, str]] = [{}]
            for name in names:
                values = (
                    _guesses(name, own.ids[name], attacker, own) if name in OWNED else CATALOG[name]
                )
                combos = [{**c, name: v} for c in combos for v in values]
            for role in ROLES:
                who = f"{attacker}:{role}"
                control: int | None = None
                if any(n in OWNED for n in names):  # what an id existing nowhere gets
                    nowhere = {n: NOWHERE.get(n, "zz-none") if n in OWNED else CATALOG[n][0] for n in names}
                    url = path.format(**{k: quote(v, safe="") for k, v in nowhere.items()})
                    r = await api.http.request(method, url, json=_body(op), headers=api.as_(who))
                    control = r.status_code
                    assert control in (403, 404), (label, who, "control", control, r.text)
                for combo in combos:
                    for query in queries if not names or control is None else [{}]:
                        url = path.format(**{k: quote(v, safe="") for k, v in combo.items()})
                        r = await api.http.request(
                            method, url, params=query, json=_body(op), headers=api.as_(who)
                        )
                        attempts += 1
                        sent = [*combo.values(), *query.values()]
                        found = _leaks(r.text, sent, own)
                        if found:
                            leaks.append((label, who, combo, query, r.status_code, found))
                        if control is not None:
                            ok = r.status_code == control
                        else:
                            ok = r.status_code in (200, 403, 404)
                        if not ok:
                            wrong.append((label, who, combo, query, r.status_code, r.text[:200]))
    print(f"cross-tenant attempts: {attempts}, leaks: {len(leaks)}")
    for line in leaks[:20]:
        print("LEAK", line)
    for line in wrong[:20]:
        print("WRONG STATUS", line)
    assert not unexercised, (
        "routes the matrix cannot exercise: teach it their ids (OWNED/CATALOG) or add them to "
        f"ALLOWED with a reason: {unexercised}"
    )
    assert attempts > 0
    assert not leaks, leaks[:20]
    assert not wrong, wrong[:20]
    if "schedule_id" in own.ids:  # A's schedule id is no conflict for B: ids are per tenant
        sid = own.ids["schedule_id"][0]
        r = await api.http.post(
            "/v1/schedules",
            json={"schedule_id": sid, "template": "approval_flow", "cron": ["0 4 * * *"],
                  "params": {"topic": "b", "channels": ["blog"]}, "paused": True},
            headers=api.as_("globex:admin"),
        )
        assert r.status_code == 201 and not _leaks(r.text, [sid], own), r.text
    # A's resources are untouched by all of it.
    flow = own.ids["execution_id"][0]
    r = await api.http.get(f"/v1/workflows/{flow}/status", headers=api.as_(f"{A}:viewer"))
    assert r.status_code == 200 and "review" in r.json()["progress"]["waiting"], r.text
    await api.http.post(f"/v1/executions/{flow}/cancel", headers=api.as_(f"{A}:operator"))
