"""The admin console at `/admin`: server-rendered pages over the same store, Temporal client,
keys, roles and tenant rules as the `/v1` API (DESIGN §12). `mount_console(app)` adds it;
every module in `api.console.pages` with a `router` is a group of pages."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console.security import ConsoleHeaders
from api.console.session import CsrfRefused, LoginRequired, RoleRefused

STATIC = Path(__file__).parent / "static"


def _error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    from api.console.render import layout

    user = getattr(request.state, "console_user", None)
    context = {"status": status, "title": title, "detail": detail}
    return layout(request, user, "error.html", context, status=status)


def wants_html(request: Request) -> bool:
    """Console pages answer errors as pages; the event stream and fetches get problems."""
    return request.url.path.startswith("/admin") and "text/html" in request.headers.get(
        "accept", ""
    )


def mount_console(app: FastAPI) -> None:
    from api.console import pages

    app.add_middleware(ConsoleHeaders)
    app.mount("/admin/static", StaticFiles(directory=STATIC), name="console-static")
    for module in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
        found = importlib.import_module(f"{pages.__name__}.{module.name}")
        router = getattr(found, "router", None)
        if router is not None:
            app.include_router(router, prefix="/admin", include_in_schema=False)
    app.state.html_problem = _error_page

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET" and wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", 303)
        return _error_page(request, 401, "Signed out", "sign in again with your API key")

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        return _error_page(
            request,
            403,
            "Form expired",
            "the form did not carry this session's CSRF token; reload the page and try again",
        )

    @app.exception_handler(RoleRefused)
    async def _role(request: Request, exc: RoleRefused) -> Response:
        return _error_page(request, 403, "Forbidden", str(exc))
