"""Signing in to the console as a browser would, over the app's ASGI transport: the login
form's CSRF cookie and field, the session cookie, and each later form's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.app_support import Api

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


@dataclass
class Console:
    """One signed-in browser: its cookies live in `http`; `post` adds the CSRF token."""

    http: httpx.AsyncClient
    csrf: str
    who: str

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers={"Accept": "text/html"}, **kw)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return await self.http.post(path, data=form, headers={"Accept": "text/html"}, **kw)


@asynccontextmanager
async def signed_in(api: Api, who: str) -> AsyncIterator[Console]:
    """A session for the key `who` (`"<tenant>:<role>"`, see tests.api.app_support)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app), base_url="http://api"
    ) as http:
        form = await http.get("/admin/login")
        assert form.status_code == 200, form.text
        r = await http.post(
            "/admin/login",
            data={"key": api.keys[who], "csrf_token": csrf_in(form.text), "next": "/admin"},
        )
        assert r.status_code == 303, r.text
        page = await http.get("/admin/executions", headers={"Accept": "text/html"})
        if page.status_code != 200:  # before the executions page exists: any signed-in page
            page = await http.get("/admin/login")
        yield Console(http, csrf_in(page.text), who)
