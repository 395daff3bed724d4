"""The approvals inbox and decision page: a run waiting on a person is listed with its prompt;
its page shows the draft to judge and the digest of it; a decision from the page moves the
run on at once; a revise without feedback and a stale digest are refused with the reason;
agent output is shown escaped (nothing planted in it runs); artifacts are served so that an
SVG cannot run script; another tenant sees none of it; a viewer cannot decide."""

from __future__ import annotations

import hashlib
import html
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from temporalio.client import WorkflowExecutionStatus

from api.console import output_view
from api.console.render import fragment
from api.console.session import ConsoleUser
from tests.api.app_support import Api
from tests.console.support import Console, csrf_in, signed_in
from tests.support import eventually
from workflows.models import Progress

TEMPLATE = "hello_review"  # draft (noop echo of the topic) → review (bind, revise) → publish
PLANTED = (
    "<script>alert(1)</script> <img src=x onerror=alert(1)> "
    "[click me](javascript:alert(1)) **bold**"
)
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><script>alert(1)</script></svg>'
)


class Live(HTMLParser):
    """What a browser would make of the page: elements and attributes (not escaped text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def live(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Live()
    parser.feed(page)
    return parser.tags


def assert_nothing_runs(page: str) -> None:
    for tag, attrs in live(page):
        assert tag != "script" or (attrs.get("src") or "").startswith("/admin/static/"), attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action"):
            assert not (attrs.get(name) or "").strip().lower().startswith("javascript:"), attrs
        assert not (tag == "img" and attrs.get("src") == "x"), attrs


async def _groups(api: Api) -> None:
    # hello_review asks the `writers` group first: acme's approver key is its member
    r = await api.http.put(
        "/v1/approver-groups/writers",
        json={"members": [{"principal": "approver@acme"}, {"principal": "admin@acme"}]},
        headers=api.as_("acme:admin"),
    )
    assert r.status_code == 200, r.text


async def _start(api: Api, topic: str) -> str:
    r = await api.http.post(
        f"/v1/workflows/{TEMPLATE}/execute",
        json={"params": {"topic": topic}},
        headers=api.as_("acme:operator"),
    )
    assert r.status_code == 202, r.text
    return str(r.json()["execution_id"])


async def _waiting(api: Api, wid: str) -> str:
    """The review step's digest, once the run waits on it."""

    async def check() -> str | None:
        progress = await api.temporal.get_workflow_handle(wid).query(
            "progress", result_type=Progress
        )
        step = next(s for s in progress.steps if s.id == "review")
        return step.digest if step.status == "waiting" and step.digest else None

    return await eventually(check, what=f"{wid} waiting on review")


async def _page(browser: Console, wid: str) -> str:
    r = await browser.get(f"/admin/approvals/{wid}/review")
    assert r.status_code == 200, r.text
    return r.text


async def test_the_inbox_lists_the_wait_and_a_decision_from_its_page_completes_the_run(
    console: Api,
) -> None:
    await _groups(console)
    wid = await _start(console, "durable reviews")
    digest = await _waiting(console, wid)
    async with signed_in(console, "acme:approver") as browser:
        inbox = await browser.get("/admin/approvals")
        assert inbox.status_code == 200
        assert f'data-testid="approval-row-{wid}-review"' in inbox.text
        assert "Publish this draft?" in inbox.text and "group writers" in inbox.text
        assert f"/admin/approvals/{wid}/review" in inbox.text

        page = await _page(browser, wid)
        assert 'data-testid="upstream-output-draft"' in page
        assert "Notes on durable reviews" in page  # the draft's output, in the page
        assert 'data-testid="decision-form"' in page and 'data-testid="decide-revise"' in page
        assert f'name="digest" value="{digest}"' in page  # what the run checks for `bind`
        assert csrf_in(page.split('data-testid="decision-form"')[1]) == browser.csrf

        # a revise without feedback: refused, the page again with the reason
        r = await browser.post(
            f"/admin/approvals/{wid}/review/decide",
            {"decision": "revise", "comment": "  ", "digest": digest},
        )
        assert r.status_code == 422 and "needs feedback" in r.text
        assert 'data-testid="decision-form"' in r.text
        # a stale digest: the run refuses it and the page says why, keeping the comment
        stale = "sha256:" + "0" * 64
        r = await browser.post(
            f"/admin/approvals/{wid}/review/decide",
            {"decision": "approve", "comment": "looks right", "digest": stale},
        )
        assert r.status_code == 409 and "stale digest" in r.text
        assert "looks right</textarea>" in r.text

        r = await browser.post(
            f"/admin/approvals/{wid}/review/decide",
            {"decision": "approve", "comment": "ship it", "digest": digest},
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/approvals"
        after = await browser.get("/admin/approvals")
        assert "Approved: review of" in after.text  # the flash
        assert f"approval-row-{wid}-review" not in after.text

    handle = console.temporal.get_workflow_handle(wid)

    async def completed() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    await eventually(completed, what="the approved run to complete")
    progress = await handle.query("progress", result_type=Progress)
    review = next(s for s in progress.steps if s.id == "review")
    assert review.decision is not None and review.decision.by == "approver@acme"
    assert review.decision.comment == "ship it" and review.decision.digest == digest


async def test_planted_markup_is_escaped_svg_is_sandboxed_and_other_tenants_see_nothing(
    console: Api,
) -> None:
    await _groups(console)
    ref = f"blob://acme/{hashlib.sha256(SVG).hexdigest()}/logo.svg"
    wid = await _start(console, f"{PLANTED} {ref}")
    await _waiting(console, wid)
    await console.store.put_blob(
        "acme", SVG, "logo.svg", workflow_id=wid, run_id="r1", content_type="image/svg+xml"
    )
    md = await console.store.put_blob(
        "acme", b"# notes\n<script>alert(2)</script>\n", "notes.md", workflow_id=wid, run_id="r1"
    )
    svg_url = f"/admin/executions/{wid}/artifacts/{quote(ref, safe='')}"
    async with signed_in(console, "acme:viewer") as viewer:
        page = await _page(viewer, wid)
        assert_nothing_runs(page)
        assert html.escape("<script>alert(1)</script>", quote=False) in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        # the creative, as an image from the console's artifact route
        imgs = [a for t, a in live(page) if t == "img" and a.get("data-testid") == "artifact-img"]
        assert [a["src"] for a in imgs] == [svg_url] and imgs[0]["class"] == "artifact-img"
        assert 'data-testid="decision-form"' not in page  # viewers read, approvers decide

        svg = await viewer.get(svg_url)
        assert svg.status_code == 200 and svg.content == SVG
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        )
        assert svg.headers["x-content-type-options"] == "nosniff"
        assert "attachment" not in svg.headers.get("content-disposition", "")
        text = await viewer.get(f"/admin/executions/{wid}/artifacts/{quote(str(md), safe='')}")
        assert text.status_code == 200
        assert text.headers["content-disposition"].startswith("attachment")

        # a viewer may not decide
        r = await viewer.post(
            f"/admin/approvals/{wid}/review/decide", {"decision": "approve", "digest": ""}
        )
        assert r.status_code == 403

    async with signed_in(console, "globex:admin") as other:
        inbox = await other.get("/admin/approvals")
        assert inbox.status_code == 200 and wid not in inbox.text
        assert 'data-testid="approval-row-acme.' not in inbox.text
        assert (await other.get(f"/admin/approvals/{wid}/review")).status_code == 404
        assert (await other.get(svg_url)).status_code == 404
        r = await other.post(
            f"/admin/approvals/{wid}/review/decide", {"decision": "reject", "digest": ""}
        )
        assert r.status_code == 404

    async with signed_in(console, "acme:admin") as admin:  # a writer too: reject to clean up
        page = await _page(admin, wid)
        digest = _field(page, "digest")
        r = await admin.post(
            f"/admin/approvals/{wid}/review/decide", {"decision": "reject", "digest": digest}
        )
        assert r.status_code == 303, r.text


async def test_a_choice_is_made_with_one_button_per_option(console: Api) -> None:
    r = await console.http.post(
        "/v1/workflows/branching/execute", json={"params": {}}, headers=console.as_("acme:operator")
    )
    assert r.status_code == 202, r.text
    wid = r.json()["execution_id"]
    handle = console.temporal.get_workflow_handle(wid)

    async def waiting() -> bool:
        progress = await handle.query("progress", result_type=Progress)
        return "route" in progress.waiting

    await eventually(waiting, what="the choice waiting")
    async with signed_in(console, "acme:approver") as browser:
        r = await browser.get(f"/admin/approvals/{wid}/route")
        assert r.status_code == 200
        # no `bind`: what the step comes after is shown
        for step in ("left", "right"):
            assert f'data-testid="upstream-output-{step}"' in r.text
        assert 'data-testid="decide-choose-fast"' in r.text
        assert 'data-testid="decide-choose-slow"' in r.text
        assert 'data-testid="decide-approve"' not in r.text
        r = await browser.post(
            f"/admin/approvals/{wid}/route/decide",
            {"decision": "choose:slow", "digest": _field(r.text, "digest")},
        )
        assert r.status_code == 303, r.text

    async def chosen() -> str | None:
        progress = await handle.query("progress", result_type=Progress)
        route = next(s for s in progress.steps if s.id == "route")
        return route.decision.option if route.decision else None

    assert await eventually(chosen, what="the choice taken") == "slow"

    async def completed() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    await eventually(completed, what="the run to complete on the slow path")


def _field(page: str, testid: str) -> str:
    found = [a for _, a in live(page) if a.get("data-testid") == testid]
    assert found, f"no {testid} in the page"
    return str(found[0].get("value") or "")


def test_an_empty_inbox_says_so() -> None:
    user = ConsoleUser(tenant="globex", role="viewer", name="viewer@globex", key_id="k", csrf="t")
    page = fragment(
        "approvals/inbox.html", rows=[], user=user, flashes=[], section="approvals", csrf_token="t"
    )
    assert 'data-testid="approvals-empty"' in page and "Nothing is waiting" in page
    assert "deciding needs the approver role" in page


def test_markdown_is_a_whitelist_over_escaped_text() -> None:
    out = output_view.markdown(
        "# Title <b>x</b>\n\nA **bold** and *it* with `<code>` and "
        "[ok](https://example.com/a?b=1&c=2) and [bad](javascript:alert(1)) "
        '[worse](https://x.example/" onmouseover="alert(1))\n\n'
        "- one <script>alert(1)</script>\n- two\n\n```\n<img src=x onerror=alert(1)>\n```"
    )
    assert isinstance(out, Markup)
    tags = live(str(out))
    assert {t for t, _ in tags} <= {"h3", "p", "strong", "em", "code", "a", "ul", "li", "pre"}
    links = [a["href"] for t, a in tags if t == "a"]
    assert links == ["https://example.com/a?b=1&c=2"]
    assert_nothing_runs(str(out))
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "&lt;script&gt;" in out
    assert "[bad](javascript:alert(1))" in out  # shown as the text it is


def test_structured_output_and_posts_are_escaped() -> None:
    value: dict[str, Any] = {
        "<img src=x onerror=alert(1)>": "<script>alert(1)</script>",
        "items": [{"a": 1, "b": None}, "two"],
        "long": "para one\n\n<iframe src=//evil>",
    }
    out = str(output_view.render_value(value))
    assert_nothing_runs(out)
    assert not any(t in ("iframe", "script", "img") for t, _ in live(out))
    post = {
        "title": "<script>alert(1)</script>",
        "summary": "lead",
        "variants": [{"name": "v1", "headline": "<b>h</b>", "body": "**b** <i>x</i>"}],
    }
    assert output_view.looks_like_post(post)
    rendered = str(output_view.render_post(post))
    assert_nothing_runs(rendered)
    assert not any(t in ("script", "b", "i") for t, _ in live(rendered))
    assert output_view.blob_refs({"x": ["see blob://acme/" + "a" * 64 + "/a.png now"]}) == [
        "blob://acme/" + "a" * 64 + "/a.png"
    ]
