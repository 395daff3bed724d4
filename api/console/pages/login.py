"""Sign in with an API key, sign out. The login form has its own CSRF token (double submit:
a short-lived cookie and a field that must match), so another site cannot sign a browser in
with the attacker's key."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.render import page
from api.console.session import (
    COOKIE,
    CSRF_FIELD,
    ConsoleUser,
    console_settings,
    current_user,
    sessions,
)

router = APIRouter()
LOGIN_CSRF_COOKIE = "bizos_login_csrf"


def _safe_next(target: str | None) -> str:
    # Only our own pages: never an absolute or protocol-relative URL (open redirect).
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin"


async def _login_form(
    request: Request, next_: str, error: str = "", status: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = await page(
        request,
        None,
        "login.html",
        {"login_csrf": token, "next": _safe_next(next_), "error": error},
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=1800,
        httponly=True,
        samesite="strict",
        secure=console_settings(request).cookie_secure,
        path="/admin/login",
    )
    return response


@router.get("/login")
async def login_form(request: Request, next: str = "/admin") -> HTMLResponse:
    return await _login_form(request, next)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    key = str(form.get("key") or "").strip()
    next_ = _safe_next(str(form.get("next") or ""))
    sent = str(form.get(CSRF_FIELD) or "")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return await _login_form(
            request, next_, "the sign-in form expired; please try again", status=403
        )
    found = await request.app.state.store.principal_for_key(key) if key else None
    if found is None:
        return await _login_form(
            request, next_, "that key is unknown, revoked or expired", status=401
        )
    user = ConsoleUser(
        tenant=found.tenant,
        role=found.role,
        name=found.name,
        key_id=found.key_id,
        csrf=secrets.token_urlsafe(32),
    )
    session_id = await sessions(request).create(user)
    await request.app.state.store.audit(found.tenant, found.name, "console.login", found.key_id)
    response = RedirectResponse(next_, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=console_settings(request).session_ttl_s,
        httponly=True,
        samesite="strict",
        secure=console_settings(request).cookie_secure,
        path="/admin",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await current_user(request)  # checks the CSRF token: no cross-site sign-outs
    await sessions(request).delete(request.state.console_session_id)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    user: ConsoleUser = await current_user(request)
    return RedirectResponse(
        "/admin/approvals" if user.may("approver") else "/admin/executions", status_code=303
    )
