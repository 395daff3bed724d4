"""The agents hub (`/admin/agents`): the 20 agents as cards with their pool's health and the
tenant's runs, error rate, cost and active configuration; one agent's page with its
configuration panel (a form generated from `AgentConfig`), which saves a new version, shows
every version with who made it and when, a side-by-side diff of any two, and rolls back.

Every figure and version is the signed-in tenant's; the work is done by the same functions
as the `/v1` routes (`api.routes.agents`, `api.routes.configurations`)."""

from __future__ import annotations

import asyncio
import difflib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData
from temporalio.service import RPCError

from activities.catalog import CATEGORIES, default_catalog
from activities.catalog.catalog import AgentSpec
from api.console.render import page, redirect
from api.console.session import Operator, Viewer
from api.problems import Problem
from api.routes.agents import agent_runs, error_rate, pool_pollers, resolve_agent, runs_by_agent
from api.routes.configurations import activate_config, config_history, create_config

router = APIRouter()

VISIBILITY_TIMEOUT_S = 5.0
"""How long a page waits for Temporal's run listing before showing the rest without it."""
SCALARS = ("temperature", "max_tokens", "max_iter", "role", "goal", "backstory", "instructions")
TARGETS = ("latency_ms", "cost_usd", "error_rate")
MODE_SCALARS = ("temperature", "max_tokens", "instructions", "task")


def _agents() -> list[AgentSpec]:
    return [a for a in default_catalog() if a.category != "system"]


def _tools(spec: AgentSpec) -> dict[str, list[str]]:
    """Every tool of the agent, in order, with the modes that have it."""
    found: dict[str, list[str]] = {}
    for mode in spec.modes:
        for tool in spec.mode_tools(mode):
            found.setdefault(tool, []).append(mode)
    return found


async def _bounded(coro: Any, default: Any) -> tuple[Any, bool]:
    """(the result, True), or (default, False) when Temporal does not answer in time."""
    try:
        async with asyncio.timeout(VISIBILITY_TIMEOUT_S):
            return await coro, True
    except (TimeoutError, RPCError):  # the page shows what it has and says what is missing
        return default, False


# --- the hub ----------------------------------------------------------------------------


@router.get("/agents")
async def hub(request: Request, user: Viewer, category: str = "") -> Response:
    agents = _agents()
    categories = [c for c in CATEGORIES if any(a.category == c for a in agents)]
    shown = [a for a in agents if not category or a.category == category]
    store = request.app.state.store
    pollers, (runs, runs_ok), costs, actives = await asyncio.gather(
        pool_pollers(request, [a.category for a in shown]),
        _bounded(runs_by_agent(request, user), {}),
        store.costs_by(user.tenant, "agent"),
        asyncio.gather(*(store.active_config_version(a.id, tenant=user.tenant) for a in shown)),
    )
    spent = {line.key: line for line in costs}
    cards = []
    for spec, active in zip(shown, actives, strict=True):
        recent = runs.get(spec.id, [])
        line = spent.get(spec.id)
        cards.append(
            {
                "spec": spec,
                "pollers": pollers.get(spec.category),
                "runs": len(recent),
                "last": recent[0] if recent else None,
                "error_rate": error_rate(recent),
                "cost_usd": line.usd if line else 0.0,
                "active": active,
            }
        )
    return await page(
        request,
        user,
        "agents/hub.html",
        {
            "cards": cards,
            "categories": categories,
            "category": category,
            "runs_ok": runs_ok,
        },
        section="agents",
    )


# --- one agent ------------------------------------------------------------------------


def _ref_line(ref: Any) -> str:
    """A provider chain link as the textarea shows it: `provider:model`, or a JSON object
    when it carries more (timeouts, prices, key secret)."""
    if isinstance(ref, str):
        return ref
    extra = set(ref) - {"provider", "model", "base_url"}
    provider, model, url = ref.get("provider"), ref.get("model"), ref.get("base_url")
    if extra or (url and provider != "openai_compatible"):
        return json.dumps(ref, sort_keys=True)
    if provider == "offline":
        return "offline"
    if provider == "openai_compatible":
        return f"openai_compatible:{model}@{url}"
    return f"{provider}:{model}"


def _values_from_body(spec: AgentSpec, body: dict[str, Any]) -> dict[str, Any]:
    """A stored version as the form's field values (strings, as a person would type them)."""
    values: dict[str, Any] = {}
    for name in SCALARS:
        if body.get(name) is not None:
            values[name] = str(body[name])
    values["providers"] = "\n".join(_ref_line(r) for r in body.get("providers") or [])
    for name, value in (body.get("targets") or {}).items():
        if value is not None:
            values[f"targets.{name}"] = str(value)
    off = set(body.get("tools_off") or [])
    values["tool"] = [t for t in _tools(spec) if t not in off]
    for mode, conf in (body.get("modes") or {}).items():
        for name in MODE_SCALARS:
            if conf.get(name) is not None:
                values[f"mode.{mode}.{name}"] = str(conf[name])
        values[f"mode.{mode}.providers"] = "\n".join(
            _ref_line(r) for r in conf.get("providers") or []
        )
        values[f"mode.{mode}.tools_off"] = ", ".join(conf.get("tools_off") or [])
    return values


def _values_from_form(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: str(v) for k, v in form.items() if k not in ("tool", "csrf_token") and isinstance(v, str)
    }
    values["tool"] = [str(t) for t in form.getlist("tool")]
    return values


class FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _chain(text: str, field: str, errors: dict[str, str]) -> list[Any] | None:
    """The textarea's lines as chain links (short forms or JSON objects); None if empty."""
    links: list[Any] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                links.append(json.loads(line))
            except ValueError:
                errors[field] = f"line {n} is not a JSON object"
                return None
        else:
            links.append(line)
    return links or None


def _body_from_values(spec: AgentSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The configuration body the form describes; empty fields are left to the catalog.
    Numbers stay strings: `AgentConfig` converts and checks them, naming the field."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name in SCALARS:
        if values.get(name, "").strip():
            body[name] = values[name].strip()
    chain = _chain(values.get("providers", ""), "providers", errors)
    if chain:
        body["providers"] = chain
    targets = {
        n: values[f"targets.{n}"].strip() for n in TARGETS if values.get(f"targets.{n}", "").strip()
    }
    if targets:
        body["targets"] = targets
    tools = _tools(spec)
    unknown = sorted(set(values.get("tool", [])) - set(tools))
    if unknown:
        errors["tools"] = f"agent {spec.id} has no tools {unknown}; its tools: {', '.join(tools)}"
    # Unchecked boxes send nothing, so "off" is only read from a form that listed the tools:
    # a post without the list (a script, an older page) never switches every tool off.
    listed = bool(values.get("tools_listed"))
    off = [t for t in tools if t not in values.get("tool", [])] if listed else []
    if off:
        body["tools_off"] = off
    modes: dict[str, Any] = {}
    for mode in spec.modes:
        conf: dict[str, Any] = {}
        for name in MODE_SCALARS:
            if values.get(f"mode.{mode}.{name}", "").strip():
                conf[name] = values[f"mode.{mode}.{name}"].strip()
        field = f"mode.{mode}.providers"
        chain = _chain(values.get(field, ""), field, errors)
        if chain:
            conf["providers"] = chain
        mode_off = [t.strip() for t in values.get(f"mode.{mode}.tools_off", "").split(",")]
        if any(mode_off):
            conf["tools_off"] = [t for t in mode_off if t]
        if conf:
            modes[mode] = conf
    if modes:
        body["modes"] = modes
    if errors:
        raise FormErrors(errors)
    return body


def _form_field(path: str) -> tuple[str, str]:
    """A validation error's path (`config.modes.x.providers.0.model`) as the form field
    that holds it and a prefix locating it within that field."""
    parts = path.removeprefix("config.").split(".")
    where = ""
    if parts[0] == "modes" and len(parts) >= 3:
        field, rest = f"mode.{parts[1]}.{parts[2]}", parts[3:]
    elif parts[0] == "targets" and len(parts) >= 2:
        field, rest = f"targets.{parts[1]}", parts[2:]
    elif parts[0] == "tools_off":
        field, rest = "tools", []
    else:
        field, rest = parts[0], parts[1:]
    if field.endswith("providers") and rest and rest[0].isdigit():
        where = f"line {int(rest[0]) + 1}: "
    return field, where


def _problem_errors(problem: Problem) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in problem.extra.get("errors") or []:
        field, where = _form_field(str(err["field"]))
        errors[field] = (errors[field] + "; " if field in errors else "") + where + err["problem"]
    if not errors:  # a check across fields: `tools_off: …`, `modes.x.tools_off: …`, modes
        head, sep, _ = problem.detail.partition(":")
        field = _form_field(head)[0] if sep and " " not in head else "config"
        errors[field] = problem.detail
    return errors


@dataclass
class DiffRow:
    left: str
    right: str
    left_kind: str = ""
    right_kind: str = ""


def _pretty(body: dict[str, Any]) -> list[str]:
    return json.dumps(body, indent=2, sort_keys=True).splitlines()


def side_by_side(left: list[str], right: list[str]) -> list[DiffRow]:
    """Two columns of lines, aligned; changed lines `chg`, removed `del`, added `add`."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows += [DiffRow(a, b) for a, b in zip(left[i1:i2], right[j1:j2], strict=True)]
            continue
        olds, news = left[i1:i2], right[j1:j2]
        for k in range(max(len(olds), len(news))):
            old = olds[k] if k < len(olds) else None
            new = news[k] if k < len(news) else None
            both = old is not None and new is not None
            rows.append(
                DiffRow(
                    old or "",
                    new or "",
                    ("chg" if both else "del") if old is not None else "",
                    ("chg" if both else "add") if new is not None else "",
                )
            )
    return rows


def _default_pair(versions: list[int], active: int | None) -> tuple[int, int]:
    """Active against the version before it (0 = catalog defaults)."""
    to = active if active in versions else versions[-1]
    before = [v for v in versions if v < to]
    return (before[-1] if before else 0), to


async def _agent_page(
    request: Request,
    user: Any,
    agent: str,
    *,
    a: int | None = None,
    b: int | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    spec = default_catalog().get(agent)
    store = request.app.state.store
    pollers, (recent, runs_ok), costs, history = await asyncio.gather(
        pool_pollers(request, [spec.category]),
        _bounded(agent_runs(request, user, agent), []),
        store.costs_by(user.tenant, "agent"),
        config_history(request, user, agent),
    )
    versions = history["versions"]
    by_number = {v["version"]: v for v in versions}
    active = history["active"]
    active_body = by_number[active]["config"] if active in by_number else {}
    spent = [line for line in costs if line.key == agent]
    closed = [r for r in recent if r["status"] not in ("running", None)]
    cost = spent[0].usd if spent else 0.0

    diff = None
    if versions:
        numbers = [v["version"] for v in versions]
        left, right = _default_pair(numbers, active)
        if a is not None and (a == 0 or a in by_number):
            left = a
        if b is not None and (b == 0 or b in by_number):
            right = b
        diff = {
            "a": left,
            "b": right,
            "rows": side_by_side(
                _pretty(by_number[left]["config"] if left else {}),
                _pretty(by_number[right]["config"] if right else {}),
            ),
        }
    tools = _tools(spec)
    return await page(
        request,
        user,
        "agents/agent.html",
        {
            "spec": spec,
            "pollers": pollers.get(spec.category),
            "recent": recent[:10],
            "runs_ok": runs_ok,
            "runs": len(recent),
            "error_rate": error_rate(recent),
            "cost_usd": cost,
            "calls": spent[0].calls if spent else 0,
            "cost_per_run": cost / len(closed) if closed else None,
            "targets": active_body.get("targets") or {},
            "active": active,
            "versions": list(reversed(versions)),
            "diff": diff,
            "tools": tools,
            "values": values if values is not None else _values_from_body(spec, active_body),
            "errors": errors or {},
            "base": active,
            "can_edit": user.may("operator"),
        },
        status=status,
        section="agents",
    )


@router.get("/agents/{agent_id}")
async def agent_page(
    agent_id: str, request: Request, user: Viewer, a: int | None = None, b: int | None = None
) -> Response:
    return await _agent_page(request, user, resolve_agent(agent_id), a=a, b=b)


@router.post("/agents/{agent_id}/configure")
async def save(agent_id: str, request: Request, user: Operator) -> Response:
    """A new version from the form (never an edit of one); an invalid form comes back with
    what was typed and the field named, and nothing is stored."""
    agent = resolve_agent(agent_id)
    spec = default_catalog().get(agent)
    form = await request.form()
    values = _values_from_form(form)
    note = values.get("note", "").strip()
    try:
        if len(note) > 500:
            raise FormErrors({"note": "at most 500 characters"})
        body = _body_from_values(spec, values)
        version = await create_config(
            request, user, agent, body, note=note, activate=values.get("activate") != "no"
        )
    except FormErrors as e:
        return await _agent_page(request, user, agent, values=values, errors=e.errors, status=422)
    except Problem as e:
        if e.status != 422:
            raise
        errors = _problem_errors(e)
        return await _agent_page(request, user, agent, values=values, errors=errors, status=422)
    state = "active for new runs" if values.get("activate") != "no" else "not active"
    return await redirect(
        request,
        user,
        f"/admin/agents/{agent}?b={version}#config-history",
        f"Saved version {version} of {spec.name} ({state})",
    )


@router.post("/agents/{agent_id}/versions/{version}/activate")
async def rollback(agent_id: str, version: int, request: Request, user: Operator) -> Response:
    agent = resolve_agent(agent_id)
    await activate_config(request, user, agent, version)
    return await redirect(
        request,
        user,
        f"/admin/agents/{agent}#config-history",
        f"Version {version} is active: new runs of {agent} use it",
    )
