"""Signing in and out of the console: the key is exchanged for an HttpOnly, SameSite=Strict
session cookie and never appears in a page; forms without the session's CSRF token are
refused; a revoked key ends its sessions; errors are pages, not JSON."""

from __future__ import annotations

import httpx

from tests.api.app_support import Api
from tests.console.support import csrf_in, signed_in


async def test_login_sets_an_httponly_session_and_never_echoes_the_key(console: Api) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app), base_url="http://api"
    ) as http:
        form = await http.get("/admin/login")
        assert "default-src 'self'" in form.headers["content-security-policy"]
        key = console.keys["acme:viewer"]
        r = await http.post(
            "/admin/login",
            data={"key": key, "csrf_token": csrf_in(form.text), "next": "/admin/health"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/health"
        cookie = r.headers["set-cookie"]
        assert "bizos_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
        assert key not in cookie
        page = await http.get("/admin/login")
        assert key not in page.text


async def test_login_refuses_wrong_keys_and_forged_forms(console: Api) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app), base_url="http://api"
    ) as http:
        form = await http.get("/admin/login")
        wrong = await http.post(
            "/admin/login", data={"key": "bz_nope", "csrf_token": csrf_in(form.text)}
        )
        assert wrong.status_code == 401 and "unknown, revoked or expired" in wrong.text
        forged = await http.post(
            "/admin/login", data={"key": console.keys["acme:admin"], "csrf_token": "x"}
        )
        assert forged.status_code == 403 and "bizos_session" not in forged.headers.get(
            "set-cookie", ""
        )
        # an off-site `next` never leaves the console
        form = await http.get("/admin/login")
        r = await http.post(
            "/admin/login",
            data={
                "key": console.keys["acme:admin"],
                "csrf_token": csrf_in(form.text),
                "next": "https://evil.example/",
            },
        )
        assert r.headers["location"] == "/admin"


async def test_pages_need_a_session_and_forms_their_csrf_token(console: Api) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app), base_url="http://api"
    ) as anonymous:
        r = await anonymous.get("/admin/executions", headers={"Accept": "text/html"})
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/login?next=%2Fadmin%2Fexecutions"
    async with signed_in(console, "acme:operator") as browser:
        refused = await browser.post("/admin/logout", csrf=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
        out = await browser.post("/admin/logout")
        assert out.status_code == 303
        again = await browser.get("/admin/executions")
        assert again.status_code == 303  # the session is gone


async def test_a_revoked_key_ends_its_sessions(console: Api) -> None:
    info, raw = await console.store.create_key("acme", "short-lived", "viewer")
    console.keys["acme:short-lived"] = raw
    async with signed_in(console, "acme:short-lived") as browser:
        assert (await browser.get("/admin/")).status_code == 303
        await console.store.revoke_key("acme", info.id)
        r = await browser.get("/admin/health")
        assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")
