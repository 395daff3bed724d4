"""Rules every console page keeps, checked on the rendered HTML of each main page: no inline
script, style or event handler (the CSP would block them: a page relying on one is broken),
no `javascript:` URL, and every state-changing form carries this session's CSRF token."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.api.app_support import Api
from tests.console.support import signed_in

PAGES = (
    "/admin/approvals",
    "/admin/executions",
    "/admin/workflows",
    "/admin/workflows/content_creation",
    "/admin/workflows/hello_approval",
    "/admin/agents",
    "/admin/agents/market_research",
    "/admin/schedules",
    "/admin/costs",
    "/admin/health",
)


class Rules(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.broken: list[str] = []
        self.forms: list[dict[str, str | None]] = []
        self.tokens: list[str] = []
        self._in_post_form = False
        self._form_token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and not found.get("src"):
            self.broken.append("inline <script>")
        if tag == "style":
            self.broken.append("inline <style>")
        for name, value in attrs:
            if name.startswith("on"):
                self.broken.append(f"<{tag} {name}=…>")
            if name == "style":
                self.broken.append(f"<{tag} style=…>")
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.broken.append(f"<{tag} {name}=javascript:…>")
        if tag == "form" and (found.get("method") or "get").lower() == "post":
            self._in_post_form, self._form_token = True, None
            self.forms.append(found)
        if tag == "input" and self._in_post_form and found.get("name") == "csrf_token":
            self._form_token = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_post_form:
            self.tokens.append(self._form_token or "")
            self._in_post_form = False


async def test_every_page_keeps_the_csp_and_csrf_rules(console: Api) -> None:
    async with signed_in(console, "acme:admin") as browser:
        for path in PAGES:
            r = await browser.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert r.headers["x-frame-options"] == "DENY"
            rules = Rules()
            rules.feed(r.text)
            assert not rules.broken, (path, rules.broken)
            assert rules.forms, f"{path}: an admin sees at least the sign-out form"
            assert rules.tokens == [browser.csrf] * len(rules.tokens), (
                f"{path}: a form without this session's CSRF token would be refused"
            )
