"""The agents hub and an agent's configuration panel: 20 cards with pool health and the
tenant's runs; a saved form is a new version shown in the history and the diff; an invalid
form names the field, keeps what was typed and stores nothing; rollback activates an older
version (the /v1 API agrees); another tenant sees none of it; a viewer cannot save."""

from __future__ import annotations

import html
import re

from activities.catalog import default_catalog
from tests.api.app_support import Api
from tests.console.support import csrf_in, signed_in
from tests.support import eventually

CARD = re.compile(r'data-testid="agent-card-([a-z_]+)" data-category="([a-z]+)"')
OPERATOR_NAME = "operator@acme"
VERSION_ROW = re.compile(r'data-testid="version-(\d+)"')


def _versions(page: str) -> list[int]:
    return [int(v) for v in VERSION_ROW.findall(page)]


def _active_row(page: str) -> int:
    """The version whose history row carries the active marker."""
    rows = re.split(r'(?=<tr data-testid="version-)', page)
    marked = [r for r in rows if 'data-testid="active-version"' in r and "version-" in r[:40]]
    assert len(marked) == 1, "exactly one active version"
    return int(VERSION_ROW.search(marked[0]).group(1))  # type: ignore[union-attr]


def _diff_lines(page: str, kind: str) -> list[str]:
    section = page.split('data-testid="diff"', 1)[1]
    return [html.unescape(x) for x in re.findall(rf'class="diff-line {kind}">([^<]*)<', section)]


async def test_the_hub_shows_every_agent_with_its_pool_and_runs(console: Api) -> None:
    agents = {a.id: a.category for a in default_catalog() if a.category != "system"}
    ran = await console.http.post(
        "/v1/agents/data_analytics/execute",
        json={"mode": "marketing_analytics", "inputs": {"topic": "churn"}, "wait": True},
        headers=console.as_("acme:operator"),
    )
    assert ran.status_code == 200, ran.text
    async with signed_in(console, "acme:viewer") as browser:

        async def hub_with_the_run() -> str | None:
            r = await browser.get("/admin/agents")
            assert r.status_code == 200, r.text
            card = r.text.split('data-testid="agent-card-data_analytics"', 1)[1].split(
                "</article>"
            )[0]
            ran_once = re.search(r'data-testid="runs">[1-9]\d* · last', card)
            # a pool's pollers show once its worker's first long poll reaches the server
            return r.text if ran_once and "no pollers" not in r.text else None

        hub = await eventually(hub_with_the_run, what="the run on the agent's card")
        assert dict(CARD.findall(hub)) == agents and len(agents) == 20
        assert "1 poller" in hub  # every pool runs in-process
        card = hub.split('data-testid="agent-card-data_analytics"', 1)[1].split("</article>")[0]
        assert "completed" in card and 'data-testid="error-rate">0%' in card
        assert "marketing_analytics" in card

        finance = await browser.get("/admin/agents?category=finance")
        assert set(dict(CARD.findall(finance.text)).values()) == {"finance"}
        assert len(CARD.findall(finance.text)) == 2

        page = await browser.get("/admin/agents/data_analytics_001")  # the seed's alias
        assert page.status_code == 200 and "Data Analytics" in page.text
        assert ran.json()["execution_id"] in page.text
        missing = await browser.get("/admin/agents/no_such_agent")
        assert missing.status_code == 404 and "no agent" in missing.text
    async with signed_in(console, "globex:viewer") as other:
        hub = (await other.get("/admin/agents")).text
        card = hub.split('data-testid="agent-card-data_analytics"', 1)[1].split("</article>")[0]
        assert 'data-testid="runs">0' in card
        theirs = await other.get("/admin/agents/data_analytics")
        assert ran.json()["execution_id"] not in theirs.text


def _form(**changes: str | list[str]) -> dict[str, str | list[str]]:
    tools = [t for t in ("backtest", "risk_check", "signal_generator")]
    base: dict[str, str | list[str]] = {
        "temperature": "0.3",
        "max_tokens": "",
        "max_iter": "6",
        "tool": tools,
        "tools_listed": "1",  # the form lists the tools: unchecked ones are off
        "providers": "openai:gpt-4o\nanthropic:claude-sonnet-4-5",
        "targets.latency_ms": "900",
        "targets.error_rate": "0.05",
        "mode.backtesting.temperature": "0.1",
        "note": "steadier",
        "activate": "yes",
    }
    base.update(changes)
    return base


async def test_save_creates_a_version_shown_in_history_and_diff_then_roll_back(
    console: Api,
) -> None:
    agent, store = "trading_strategy", console.store
    before = len(await store.config_versions(agent, tenant="acme"))
    async with signed_in(console, "acme:operator") as browser:
        page = await browser.get(f"/admin/agents/{agent}")
        assert 'data-testid="config-form"' in page.text and 'data-testid="config-save"' in page.text
        assert csrf_in(page.text.split('data-testid="config-form"', 1)[1]) == browser.csrf

        saved = await browser.post(f"/admin/agents/{agent}/configure", _form())
        assert saved.status_code == 303, saved.text
        first = before + 1
        assert saved.headers["location"].startswith(f"/admin/agents/{agent}?b={first}")
        stored = (await store.config_version(agent, first, tenant="acme")).body
        assert stored["temperature"] == 0.3 and stored["max_iter"] == 6
        assert "tools_off" not in stored  # every tool on
        assert [p["model"] for p in stored["providers"]] == ["gpt-4o", "claude-sonnet-4-5"]
        assert stored["targets"] == {"latency_ms": 900, "error_rate": 0.05}
        assert stored["modes"] == {"backtesting": {"temperature": 0.1}}

        # the form starts from the active version; switch a tool off and warm up
        form = await browser.get(f"/admin/agents/{agent}")
        assert 'name="temperature" type="number" step="0.05" value="0.3"' in form.text
        second_form = _form(temperature="0.9", tool=["backtest", "signal_generator"], note="bolder")
        saved = await browser.post(f"/admin/agents/{agent}/configure", second_form)
        assert saved.status_code == 303
        second = first + 1
        shown = await browser.get(saved.headers["location"])
        assert f"Saved version {second}" in shown.text
        assert _versions(shown.text)[:2] == [second, first]  # newest first
        assert _active_row(shown.text) == second
        history = shown.text.split('data-testid="config-history"', 1)[1]
        assert "bolder" in history and "steadier" in history and OPERATOR_NAME in history
        # the diff: the new version against the one before, side by side
        changed = _diff_lines(shown.text, "chg")
        assert '"temperature": 0.3' in " ".join(changed) and '"temperature": 0.9' in " ".join(
            changed
        )
        assert any('"risk_check"' in line for line in _diff_lines(shown.text, "add"))
        picked = await browser.get(f"/admin/agents/{agent}?a=0&b={first}")
        assert f'data-from="0" data-to="{first}"' in picked.text
        assert any('"max_iter": 6' in line for line in _diff_lines(picked.text, "(?:chg|add)"))

        assert f'data-testid="rollback-{first}"' in shown.text
        assert csrf_in(history) == browser.csrf  # the rollback form carries it too
        assert f'data-testid="rollback-{second}"' not in shown.text  # the active one
        rolled = await browser.post(f"/admin/agents/{agent}/versions/{first}/activate")
        assert rolled.status_code == 303
        after = await browser.get(rolled.headers["location"])
        assert _active_row(after.text) == first and f"Version {first} is active" in after.text
        assert len(await store.config_versions(agent, tenant="acme")) == before + 2  # no new one

    api = await console.http.get(
        f"/v1/agents/{agent}/configurations", headers=console.as_("acme:viewer")
    )
    assert api.json()["active"] == first
    theirs = await console.http.get(
        f"/v1/agents/{agent}/configurations", headers=console.as_("globex:viewer")
    )
    assert theirs.json()["versions"] == []
    async with signed_in(console, "globex:operator") as other:
        page = await other.get(f"/admin/agents/{agent}")
        assert _versions(page.text) == [] and "steadier" not in page.text
        assert 'data-testid="diff"' not in page.text
        refused = await other.post(f"/admin/agents/{agent}/versions/{first}/activate")
        assert refused.status_code == 404
    assert (await store.active_config_version(agent, tenant="acme")) == first


async def test_an_invalid_form_names_the_field_keeps_the_input_and_saves_nothing(
    console: Api,
) -> None:
    agent, store = "gaming_experience", console.store
    before = len(await store.config_versions(agent, tenant="acme"))
    async with signed_in(console, "acme:operator") as browser:
        cases: list[tuple[dict[str, str | list[str]], str, str]] = [
            ({"temperature": "7"}, "temperature", "less than or equal to 2"),
            ({"tool": ["retention_cohorts", "no_such_tool"]}, "tools", "no_such_tool"),
            ({"providers": "openai:gpt-4o\nnonsense"}, "providers", "line 2"),
            ({"targets.error_rate": "2"}, "targets.error_rate", "less than or equal to 1"),
            ({"mode.event_design.max_tokens": "lots"}, "mode.event_design.max_tokens", "integer"),
            ({"mode.event_design.tools_off": "dice"}, "mode.event_design.tools_off", "dice"),
        ]
        for fields, field, says in cases:
            form: dict[str, str | list[str]] = {
                "temperature": "0.4",
                "tool": ["retention_cohorts"],
                "note": "typed",
            }
            form.update(fields)
            r = await browser.post(f"/admin/agents/{agent}/configure", form)
            assert r.status_code == 422, (field, r.text[:500])
            error = re.search(rf'data-testid="error-{re.escape(field)}">([^<]*)<', r.text)
            assert error and error.group(1).startswith(f"{field}:") and says in error.group(1), (
                field,
                error and error.group(1),
            )
            assert 'value="typed"' in r.text  # what was typed is still there
            if field == "temperature":
                assert 'name="temperature" type="number" step="0.05" value="7"' in r.text
            if field == "providers":
                assert "openai:gpt-4o\nnonsense</textarea>" in r.text
    assert len(await store.config_versions(agent, tenant="acme")) == before


async def test_a_viewer_sees_the_configuration_but_cannot_change_it(console: Api) -> None:
    agent, store = "seo_optimization", console.store
    async with signed_in(console, "acme:operator") as operator:
        r = await operator.post(f"/admin/agents/{agent}/configure", {"temperature": "0.5"})
        assert r.status_code == 303
    versions = await store.config_versions(agent, tenant="acme")
    # a post without the tool list switched nothing off (a page of tools left unchecked does)
    assert "tools_off" not in versions[-1].body
    async with signed_in(console, "acme:viewer") as viewer:
        page = await viewer.get(f"/admin/agents/{agent}")
        assert page.status_code == 200 and 'data-testid="config-form"' in page.text
        assert 'data-testid="config-save"' not in page.text
        assert 'data-testid="rollback-' not in page.text and "<fieldset disabled>" in page.text
        refused = await viewer.post(f"/admin/agents/{agent}/configure", {"temperature": "0.1"})
        assert refused.status_code == 403 and "operator" in refused.text
        back = await viewer.post(f"/admin/agents/{agent}/versions/{versions[0].version}/activate")
        assert back.status_code == 403
    assert len(await store.config_versions(agent, tenant="acme")) == len(versions)
