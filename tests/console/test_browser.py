"""The console as a newcomer uses it, in Debian's Chromium driven by Playwright: sign in,
launch a template from its form, watch its agents work live and the run wait for a person,
approve it in the inbox, see it complete with its cost; roll an agent's configuration back;
another tenant sees none of it; planted script in an agent's output never runs; every main
page fits a 375 px phone. Screenshots land in tests/console/artifacts/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Locator, expect

from tests.api.app_support import Api
from tests.console.browser import DESKTOP, PHONE, Tab, chromium, live_server, tab
from tests.support import eventually

TOPIC = "durable agents in the browser"
PLANTED = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    '<svg onload="window.__pwned = 3"></svg>'
)


@pytest.fixture(scope="module")
async def served(console: Api) -> AsyncIterator[str]:
    async with live_server(console.app) as base:
        yield base


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as found:
        yield found


def clean(t: Tab) -> None:
    """No console page may raise a script error, open a dialog of its own or break the CSP."""
    assert not t.errors, t.errors
    assert not t.csp_violations, t.csp_violations
    assert not [d for d in t.dialogs if not d.startswith("confirm")], t.dialogs


async def test_launch_watch_approve_and_complete(
    console: Api, served: str, browser: Browser
) -> None:
    async with tab(browser, served, "desktop", DESKTOP) as t:
        page = t.page
        await t.sign_in(console.keys["acme:operator"])
        await t.goto("/admin/workflows")
        await expect(page.locator("[data-testid^=template-card-]")).to_have_count(12)
        await t.shot("workflows")
        await page.locator("[data-testid=template-card-content_creation] a").first.click()
        await expect(page.locator("[data-testid=launch-form]")).to_be_visible()
        await page.fill("[data-testid=param-topic]", TOPIC)
        await page.click("details.wf-options > summary")  # budget and pricing options
        await page.select_option("[data-testid=param-price_as]", "chain")
        await t.shot("launch-form")
        await page.click("[data-testid=launch]")
        await page.wait_for_url(re.compile(r"/admin/executions/acme\.content_creation\."))
        execution = page.url.rsplit("/", 1)[-1]

        # its agents at work, as it happens; then the run waits for a person
        events = page.locator("[data-testid=live-events] li")
        await expect(events.first).to_be_visible(timeout=60_000)
        await expect(page.locator("[data-testid=exec-status]")).to_contain_text(
            "waiting", timeout=90_000
        )
        await expect(page.locator("[data-testid=live-events]")).to_contain_text("tool")
        seen = await events.count()
        await t.shot("execution-waiting")
        await page.reload()  # a page opened mid-run catches up: nothing missed
        await expect(events).to_have_count(seen, timeout=15_000)

        await t.goto("/admin/approvals")
        row = page.locator(f'[data-testid="approval-row-{execution}-review"]')
        await expect(row).to_be_visible()
        await t.shot("approvals")
        await row.locator("a").first.click()
        await expect(page.locator("[data-testid=upstream-output-draft]")).to_contain_text(
            TOPIC, ignore_case=True
        )
        await t.shot("decision")
        await page.fill("[data-testid=comment]", "ship it")
        await page.click("[data-testid=decide-approve]")
        await expect(page.locator(".flash")).to_be_visible()

        await t.goto(f"/admin/executions/{execution}")
        await expect(page.locator("[data-testid=exec-status]")).to_contain_text(
            "completed", timeout=90_000
        )
        cost = await page.locator("[data-testid=exec-cost]").inner_text()
        assert re.search(r"\$0\.0*[1-9]|\$[1-9]", cost), cost  # priced: a real, non-zero cost
        await t.shot("execution-completed")
        clean(t)

    # another tenant sees none of it
    async with tab(browser, served, "globex", DESKTOP) as other:
        await other.sign_in(console.keys["globex:admin"])
        await other.goto("/admin/executions")
        assert execution not in await other.page.content()
        await other.goto("/admin/approvals")
        assert execution not in await other.page.content()
        response = await other.page.goto(f"{served}/admin/executions/{execution}")
        assert response is not None and response.status == 404
        clean(other)


async def test_roll_back_an_agent_configuration(
    console: Api, served: str, browser: Browser
) -> None:
    async with tab(browser, served, "agents", DESKTOP) as t:
        page = t.page
        await t.sign_in(console.keys["acme:admin"])
        await t.goto("/admin/agents")
        await expect(page.locator("[data-testid^=agent-card-]")).to_have_count(20)
        await t.shot("agents")
        await page.locator("[data-testid=agent-card-market_research] a").first.click()
        form = page.locator("[data-testid=config-form]")
        await expect(form).to_be_visible()

        def active(version: int) -> Locator:
            return page.locator(f"[data-testid=version-{version}] [data-testid=active-version]")

        await form.locator("#f-temperature").fill("0.3")
        await page.click("[data-testid=config-save]")
        await expect(active(1)).to_be_visible()
        await form.locator("#f-temperature").fill("0.9")
        await page.click("[data-testid=config-save]")
        await expect(active(2)).to_be_visible()
        await expect(page.locator("[data-testid=diff]")).to_contain_text("0.9")
        await t.shot("agent-config")
        await page.click("[data-testid=rollback-1]")  # confirms the data-confirm question
        await expect(active(1)).to_be_visible()
        assert any(d.startswith("confirm") for d in t.dialogs)  # it asked first

        assert await console.store.active_config_version("market_research", tenant="acme") == 1
        assert await console.store.active_config_version("market_research", tenant="globex") is None
        clean(t)


async def test_planted_script_in_agent_output_never_runs(
    console: Api, served: str, browser: Browser
) -> None:
    r = await console.http.post(
        "/v1/workflows/hello_approval/execute",
        json={"params": {"topic": PLANTED}},
        headers=console.as_("acme:operator"),
    )
    assert r.status_code == 202, r.text
    execution = r.json()["execution_id"]

    async with tab(browser, served, "xss", DESKTOP) as t:
        page = t.page
        await t.sign_in(console.keys["acme:approver"])

        async def waiting() -> bool:
            await t.goto("/admin/approvals")
            return (
                await page.locator(f'[data-testid="approval-row-{execution}-review"]').count() > 0
            )

        await eventually(waiting, what="the planted run in the inbox")
        await t.goto(f"/admin/approvals/{execution}/review")
        output = page.locator("[data-testid=upstream-output-draft]")
        await expect(output).to_contain_text("<script>window.__pwned = 1</script>")
        await t.goto(f"/admin/executions/{execution}")
        await expect(page.locator("[data-testid=dag]")).to_be_visible()
        assert await page.evaluate("() => window.__pwned") is None
        assert t.dialogs == []
        clean(t)


PHONE_PAGES = (
    "/admin/approvals",
    "/admin/executions",
    "/admin/workflows",
    "/admin/workflows/content_creation",
    "/admin/agents",
    "/admin/agents/market_research",
    "/admin/schedules",
    "/admin/costs",
    "/admin/health",
)


async def test_every_main_page_fits_a_phone(console: Api, served: str, browser: Browser) -> None:
    async with tab(browser, served, "phone", PHONE) as t:
        await t.sign_in(console.keys["acme:operator"])
        found = await console.store.list_executions("acme", template="content_creation", limit=1)
        pages = list(PHONE_PAGES)
        if found.items:  # the run the launch test made
            pages.append(f"/admin/executions/{found.items[0].workflow_id}")
        for path in pages:
            await t.goto(path)
            await expect(t.page.locator(".bottomnav")).to_be_visible()
            assert await t.overflow_px() <= 0, f"{path} scrolls sideways at 375 px"
            await t.shot(path.strip("/").replace("/", "-").replace("admin-", "") or "home")
        clean(t)


async def test_decide_on_a_phone(console: Api, served: str, browser: Browser) -> None:
    """The inbox and the decision page work by tapping at 375 px: the run moves on."""
    r = await console.http.post(
        "/v1/workflows/hello_approval/execute",
        json={"params": {"topic": "decided on a phone"}},
        headers=console.as_("acme:operator"),
    )
    assert r.status_code == 202, r.text
    execution = r.json()["execution_id"]
    async with tab(browser, served, "phone", PHONE) as t:
        page = t.page
        await t.sign_in(console.keys["acme:approver"])
        row = page.locator(f'[data-testid="approval-row-{execution}-review"]')

        await page.locator(".bottomnav a", has_text="Runs").tap()
        await page.wait_for_url(re.compile(r"/admin/executions$"))
        await page.locator(".bottomnav a", has_text="Inbox").tap()
        await page.wait_for_url(re.compile(r"/admin/approvals$"))

        async def listed() -> bool:
            await t.goto("/admin/approvals")
            return await row.count() > 0

        await eventually(listed, what="the run in the phone's inbox")
        await row.locator("a").first.tap()
        await expect(page.locator("[data-testid=upstream-output-draft]")).to_contain_text(
            "decided on a phone"
        )
        assert await t.overflow_px() <= 0
        await t.shot("decision")
        await page.locator("[data-testid=decide-approve]").tap()
        await expect(page.locator(".flash")).to_be_visible()
        await t.goto(f"/admin/executions/{execution}")
        await expect(page.locator("[data-testid=exec-status]")).to_contain_text(
            "completed", timeout=60_000
        )
        assert await t.overflow_px() <= 0
        clean(t)
