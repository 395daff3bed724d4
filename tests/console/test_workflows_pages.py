"""The workflow library and launcher: the templates as cards with their DAGs, a launch form
generated from each template's params (types, defaults, examples, a message beside each
wrong field), a launch that starts a run of the caller's tenant, and an estimate (a priced
offline run) shown per step while it runs and once it is done."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from tests.api.app_support import Api
from tests.console.support import signed_in
from tests.support import eventually

SHIPPED = {
    "competitive_analysis",
    "content_creation",
    "crisis_management",
    "customer_onboarding",
    "development_sprint",
    "ecommerce_operations",
    "ecommerce_sourcing",
    "gaming_event",
    "inventory_logistics",
    "marketing_campaign",
    "performance_review",
    "trading_strategy",
}


class _Elements(HTMLParser):
    """Every element with a `data-testid`, its attributes and (for textareas, options and
    error messages) its text."""

    def __init__(self) -> None:
        super().__init__()
        self.by_testid: dict[str, dict[str, Any]] = {}
        self._open: list[dict[str, Any]] = []
        self._select: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        el: dict[str, Any] = {"tag": tag, **a, "text": "", "options": []}
        if "data-testid" in a:
            self.by_testid[a["data-testid"]] = el
        if tag == "select":
            self._select = el
        if tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value"))
            if "selected" in a:
                self._select["selected"] = a.get("value")
        if tag not in ("input", "br", "img", "meta", "link", "option"):
            self._open.append(el)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for el in self._open:
            el["text"] += data


def elements(html: str) -> dict[str, dict[str, Any]]:
    parser = _Elements()
    parser.feed(html)
    return parser.by_testid


async def test_the_library_shows_every_template_as_a_card_with_its_dag(console: Api) -> None:
    async with signed_in(console, "acme:viewer") as browser:
        r = await browser.get("/admin/workflows")
    assert r.status_code == 200, r.text
    cards = re.findall(r'<article class="card wf-card" data-testid="template-card-([a-z_]+)">'
                       r"(.*?)</article>", r.text, re.S)  # fmt: skip
    assert {name for name, _ in cards} == SHIPPED and len(cards) == 12
    for name, body in cards:
        assert '<div class="dag-wrap dag-thumb"><svg' in body, name
        assert f'href="/admin/workflows/{name}"' in body
    by_name = dict(cards)
    # what each card says: steps, agents, people, schedules
    assert "content_generation" in by_name["content_creation"]
    assert "approval" in by_name["content_creation"]
    assert "choice" in by_name["crisis_management"]
    assert "no people" in by_name["competitive_analysis"]
    assert "schedules" in by_name["performance_review"]
    assert 'data-testid="example-card-hello_approval"' in r.text  # the examples, apart


async def test_a_template_page_has_its_dag_steps_and_a_form_from_its_params(console: Api) -> None:
    async with signed_in(console, "acme:viewer") as browser:
        r = await browser.get("/admin/workflows/content_creation")
        assert r.status_code == 200, r.text
        el = elements(r.text)
        assert "<svg" in r.text and 'data-testid="template-dag"' in r.text
        steps = elements(r.text)["steps-table"]["text"]
        assert "content_generation / marketing_content" in steps and "draft, seo" in steps
        form = el["launch-form"]
        assert form["action"] == "/admin/workflows/content_creation/launch"
        params = {k.removeprefix("param-") for k in el if k.startswith("param-")}
        assert params == {
            "topic", "keywords", "tone", "audience", "words", "brand", "brand_colors",
            "channels", "promotion_budget", "budget_usd", "price_as",
        }  # fmt: skip
        topic = el["param-topic"]
        assert topic["tag"] == "input" and topic["type"] == "text" and topic["value"] == ""
        assert topic["placeholder"] == "durable AI agents"  # the spec's example
        words = el["param-words"]
        assert (words["type"], words["value"], words["min"], words["max"], words["step"]) == (
            "number", "1200", "300", "5000", "1",
        )  # fmt: skip
        assert el["param-promotion_budget"]["value"] == "2000"
        tone = el["param-tone"]
        assert tone["tag"] == "select" and tone["selected"] == "professional"
        assert "humorous" in tone["options"]
        channels = el["param-channels"]
        assert channels["tag"] == "textarea" and channels["text"] == "blog\nlinkedin"
        assert el["param-price_as"]["selected"] == "none"
        assert "openai:gpt-4o-mini" in el["param-price_as"]["options"]
        assert "launch" in el and "estimate" in el
        assert "need the operator role" in r.text and "disabled" in el["launch"]

        # "use the example" fills the form with the spec's example
        ex = elements((await browser.get("/admin/workflows/content_creation?example=1")).text)
        assert ex["param-topic"]["value"] == "durable AI agents"
        assert ex["param-tone"]["selected"] == "authoritative"
        assert ex["param-channels"]["text"] == "social\nnewsletter"
        assert ex["param-words"]["value"] == "900"

        # other types: an array of objects as JSON, an integer with a lower bound only
        onboarding = elements((await browser.get("/admin/workflows/customer_onboarding")).text)
        assert onboarding["param-contacts"]["tag"] == "textarea"
        assert "ana@acme.example" in onboarding["param-contacts"]["placeholder"]
        assert onboarding["param-seats"]["min"] == "1" and "max" not in onboarding["param-seats"]

        missing = await browser.get("/admin/workflows/no_such_template")
        assert missing.status_code == 404


async def test_a_launch_starts_a_run_of_the_callers_tenant(console: Api) -> None:
    async with signed_in(console, "acme:operator") as browser:
        r = await browser.post(
            "/admin/workflows/hello_approval/launch",
            {"params.topic": "console launches", "params.channels": "blog\r\nsocial\r\n",
             "budget_usd": "", "price_as": "none"},
        )  # fmt: skip
        assert r.status_code == 303, r.text
        location = r.headers["location"]
        assert location.startswith("/admin/executions/acme.hello_approval.")
        execution_id = location.rsplit("/", 1)[1]
        handle = console.temporal.get_workflow_handle(execution_id)
        try:
            desc = await handle.describe()
            assert desc.status == WorkflowExecutionStatus.RUNNING
            first = (await handle.fetch_history()).events[0]
            payload = first.workflow_execution_started_event_attributes.input.payloads[0]
            run_input = json.loads(payload.data)
            assert run_input["params"] == {
                "topic": "console launches", "channels": ["blog", "social"],
            }  # fmt: skip
            assert run_input["tenant"] == "acme" and run_input["price_as"] is None
            page = await console.store.list_executions("acme", template="hello_approval")
            assert execution_id in {e.workflow_id for e in page.items}
            globex = await console.store.list_executions("globex", template="hello_approval")
            assert execution_id not in {e.workflow_id for e in globex.items}
            flashed = await browser.get("/admin/workflows")
            assert f"started hello_approval v1: {execution_id}" in flashed.text
        finally:
            await handle.cancel()


async def test_invalid_params_come_back_with_messages_and_start_nothing(console: Api) -> None:
    before = await console.store.list_executions("acme", template="content_creation")
    async with signed_in(console, "acme:operator") as browser:
        r = await browser.post(
            "/admin/workflows/content_creation/launch",
            {
                "params.topic": "",
                "params.words": "lots",
                "params.promotion_budget": "-5",
                "params.keywords": '["unclosed',
                "params.tone": "sarcastic",
                "params.audience": "  weird <b>typed</b> value ",
                "budget_usd": "0",
                "price_as": "none",
            },
        )
        assert r.status_code == 422, r.text
        el = elements(r.text)
        assert "required" in el["field-error-topic"]["text"]
        assert "valid integer" in el["field-error-words"]["text"]
        assert "greater than or equal to 0" in el["field-error-promotion_budget"]["text"]
        assert "not valid JSON" in el["field-error-keywords"]["text"]
        assert "professional" in el["field-error-tone"]["text"]
        assert "positive" in el["field-error-budget_usd"]["text"]
        assert "field-error-audience" not in el and "field-error-brand" not in el
        # what was typed is kept, escaped
        assert el["param-words"]["value"] == "lots"
        assert el["param-promotion_budget"]["value"] == "-5"
        assert el["param-keywords"]["text"] == '["unclosed'
        assert el["param-audience"]["value"] == "  weird <b>typed</b> value "
        assert "weird &lt;b&gt;typed&lt;/b&gt;" in r.text
        assert el["param-budget_usd"]["value"] == "0"
        # a bound: over the maximum
        r = await browser.post(
            "/admin/workflows/content_creation/launch",
            {"params.topic": "tea", "params.words": "9000", "price_as": "gemini:nope"},
        )
        assert r.status_code == 422
        el = elements(r.text)
        assert "less than or equal to 5000" in el["field-error-words"]["text"]
        assert "gemini:nope" in el["field-error-price_as"]["text"]
        assert el["param-topic"]["value"] == "tea"
    after = await console.store.list_executions("acme", template="content_creation")
    assert len(after.items) == len(before.items)


async def test_a_viewer_may_look_but_not_launch_or_estimate(console: Api) -> None:
    before = await console.store.list_executions("acme", template="hello_review")
    async with signed_in(console, "acme:viewer") as browser:
        form = {"params.topic": "tea", "price_as": "none"}
        launch = await browser.post("/admin/workflows/hello_review/launch", form)
        estimate = await browser.post("/admin/workflows/hello_review/estimate", form)
    assert launch.status_code == 403 and "operator" in launch.text
    assert estimate.status_code == 403
    after = await console.store.list_executions("acme", template="hello_review")
    assert len(after.items) == len(before.items)


async def test_an_estimate_runs_offline_and_shows_its_cost_per_step(console: Api) -> None:
    # cost_probe (tests/templates/specs): two agent steps around an approval and a choice,
    # which the estimate decides itself (the choice by its default, `document`)
    async with signed_in(console, "acme:operator") as browser:
        form = {"params.topic": "cargo trikes", "price_as": "openai:gpt-4o-mini"}
        r = await browser.post("/admin/workflows/cost_probe/estimate", form)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
        assert re.fullmatch(r"/admin/workflows/cost_probe/estimate/estimate-[a-z0-9]+", location)
        key = location.rsplit("/", 1)[1]
        first = await browser.get(location)
        assert first.status_code == 200 and "estimating cost_probe" in first.text

        async def ended() -> dict[str, dict[str, Any]] | None:
            page = await browser.get(location)
            assert page.status_code == 200, page.text
            el = elements(page.text)
            return None if el["estimate-status"]["text"].strip() == "running" else el

        el = await eventually(ended, timeout_s=60, what="the estimate to end")
        page = (await browser.get(location)).text
        assert 'data-testid="estimate-status"><span class="badge status-completed"' in page
        assert 'http-equiv="refresh"' not in page  # done: no more refreshing
        total = el["estimate-total"]["text"].strip()
        assert total.startswith("$") and float(total.strip("$").replace(",", "")) > 0
        rows = {k.removeprefix("estimate-step-"): v["text"] for k, v in el.items()
                if k.startswith("estimate-step-")}  # fmt: skip
        assert list(rows) == ["research", "review", "follow_up", "docs", "note"]
        for sid in ("research", "docs"):
            assert "openai:gpt-4o-mini" in rows[sid] and "$0.0" in rows[sid]
        assert "succeeded" in rows["docs"]  # the choice took its default, `document`
        assert "Launch with these params" in page and "cargo trikes" in page

        # "edit the params" fills the form with the estimate's params
        edit = elements((await browser.get(f"/admin/workflows/cost_probe?from={key}")).text)
        assert edit["param-topic"]["value"] == "cargo trikes"

    # The run is an estimate of acme, not one of its executions; globex cannot see it.
    assert key.startswith("estimate-")
    desc = await console.temporal.get_workflow_handle(f"acme.cost_probe.{key}").describe()
    assert (await desc.memo())["bizos_estimate"] == {"price_as": "openai:gpt-4o-mini"}
    runs = await console.store.list_executions("acme", template="cost_probe")
    assert not [e for e in runs.items if ".estimate-" in e.workflow_id]
    async with signed_in(console, "globex:admin") as other:
        assert (await other.get(location)).status_code == 404
        theirs = await other.get(f"/admin/workflows/cost_probe?from={key}")
        assert theirs.status_code == 200 and "cargo trikes" not in theirs.text


def test_the_form_round_trips_every_param_type() -> None:
    # types no shipped template uses: a boolean, an object, an integer enum, a number list
    from api.console.params_form import form_fields, parse_form
    from workflows.compiler import compile_spec

    dag = compile_spec(
        {
            "name": "form_probe",
            "version": 1,
            "description": "every param type",
            "params": {
                "dry_run": {"type": "boolean", "default": True},
                "labels": {"type": "object", "default": {"team": "growth"}},
                "priority": {"type": "integer", "enum": [1, 2, 3], "default": 2},
                "weights": {"type": "array", "items": "number", "default": [0.5, 1]},
                "note": {"type": "string", "description": "free text"},
            },
            "steps": [{"id": "a", "agent": "noop", "mode": "echo", "with": {}}],
        },
        "form_probe.yaml",
    )
    fields = {f.name: f for f in form_fields(dag)}
    assert fields["dry_run"].kind == "checkbox" and fields["dry_run"].checked
    assert fields["labels"].kind == "json" and fields["labels"].value == '{"team": "growth"}'
    assert fields["priority"].kind == "select" and fields["priority"].value == "2"
    assert [v for v, _ in fields["priority"].options] == ["1", "2", "3"]
    assert fields["weights"].kind == "json" and fields["weights"].value == "[0.5, 1]"
    assert fields["note"].kind == "text" and not fields["note"].required

    ok = parse_form(
        dag,
        {"params.labels": '{"team": "ops"}', "params.priority": "3",
         "params.weights": "[1, 2.5]", "params.note": "hi"},
    )  # fmt: skip
    assert ok.ok, ok.errors
    # an unticked box is false; the integer option comes back an integer
    assert ok.params == {
        "dry_run": False, "labels": {"team": "ops"}, "priority": 3, "weights": [1, 2.5],
        "note": "hi",
    }  # fmt: skip
    bad = parse_form(dag, {"params.dry_run": "on", "params.labels": "[1]",
                           "params.priority": "7", "params.weights": '["x"]'})  # fmt: skip
    assert bad.params["dry_run"] is True
    assert set(bad.errors) == {"labels", "priority", "weights"}
    assert "valid dictionary" in bad.errors["labels"]
    assert bad.errors["weights"].startswith("item 0: ")
    refilled = {f.name: f for f in form_fields(dag, bad.values, bad.errors)}
    assert refilled["priority"].value == "7" and refilled["labels"].value == "[1]"
    assert refilled["weights"].error == bad.errors["weights"]
