"""Pages rendered on the server with Jinja2 (autoescaped: agent output is untrusted and every
value reaches the page escaped unless a template marks it otherwise, which only our own SVG
renderers do)."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from api.console.session import CSRF_FIELD, ConsoleUser, console_settings, flash, take_flashes

TEMPLATES = Path(__file__).parent / "templates"

NAV = (
    # (section, path, label, short label for the phone's bottom bar)
    ("approvals", "/admin/approvals", "Approvals", "Inbox"),
    ("executions", "/admin/executions", "Executions", "Runs"),
    ("workflows", "/admin/workflows", "Workflows", "Flows"),
    ("agents", "/admin/agents", "Agents", "Agents"),
    ("schedules", "/admin/schedules", "Schedules", "Sched."),
    ("costs", "/admin/costs", "Costs", "Costs"),
    ("health", "/admin/health", "Health", "Health"),
)


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = _when
env.filters["usd"] = _usd
env.filters["urlpart"] = lambda s: quote(str(s), safe="")
env.globals["NAV"] = NAV
env.globals["CSRF_FIELD"] = CSRF_FIELD

# The session's CSRF token for the page being rendered. A global, not a context variable of
# the template: macros imported from _macros.html see globals but not the page's context.
_csrf_token: ContextVar[str] = ContextVar("console_csrf_token", default="")


def _csrf_input() -> Markup:
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(_csrf_token.get())}">')


env.globals["csrf_input"] = _csrf_input


async def page(
    request: Request,
    user: ConsoleUser | None,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    section: str = "",
) -> HTMLResponse:
    """A full page: the layout (navigation, the user's tenant and role, one-off messages,
    the CSRF token every form embeds) around `template`."""
    flashes = await take_flashes(request, user) if user is not None else []
    return layout(request, user, template, context, status=status, section=section, flashes=flashes)


def layout(
    request: Request,
    user: ConsoleUser | None,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    section: str = "",
    flashes: list[list[str]] | None = None,
) -> HTMLResponse:
    """`template` in the layout, without touching the session (error pages use it too)."""
    _csrf_token.set(user.csrf if user is not None else "")
    html = env.get_template(template).render(
        request=request,
        user=user,
        csrf_token=user.csrf if user is not None else "",
        flashes=flashes or [],
        section=section,
        temporal_ui=console_settings(request).temporal_ui_url.rstrip("/"),
        namespace=_namespace(request),
        **(context or {}),
    )
    return HTMLResponse(html, status_code=status)


def fragment(template: str, **context: Any) -> str:
    """A piece of a page (for tests and partial renders)."""
    return env.get_template(template).render(**context)


async def redirect(
    request: Request, user: ConsoleUser, to: str, message: str = "", kind: str = "ok"
) -> RedirectResponse:
    """After a form: 303 to `to`, with `message` shown there once."""
    if message:
        await flash(request, user, message, kind)
    return RedirectResponse(to, status_code=303)


def _namespace(request: Request) -> str:
    temporal = getattr(request.app.state, "temporal", None)
    return str(getattr(temporal, "namespace", "default"))


def temporal_run_url(request: Request, workflow_id: str, run_id: str | None = None) -> str:
    """The run in the Temporal Web UI."""
    base = console_settings(request).temporal_ui_url.rstrip("/")
    url = f"{base}/namespaces/{quote(_namespace(request), safe='')}/workflows/"
    url += quote(workflow_id, safe="")
    return url + (f"/{quote(run_id, safe='')}" if run_id else "")


env.globals["temporal_run_url"] = temporal_run_url
