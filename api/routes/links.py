"""One-click decision links (no API key: the signed token is the credential). `GET` shows a
confirmation page and never decides; `POST` (its form) decides once. Refusals are HTML pages
with a status a browser and a script both understand: 404 unknown, 410 used or expired,
409 moved on or stale, 422 a decision that cannot apply, 503 try again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from activities.contract import COMMENT_LIMIT
from api import links
from api.problems import MEDIA_TYPE, PROBLEM_SCHEMA

router = APIRouter(tags=["links"])

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_HEADERS = {
    # the token is in the URL: keep it out of caches and referrers, and the page out of frames
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the page", **_HTML},
    404: {"description": "not a link of ours, or its run or step is gone", **_HTML},
    409: {"description": "the request moved on (level, round), or its outputs changed", **_HTML},
    410: {"description": "the link was used already, or expired", **_HTML},
    422: {
        "description": "a decision that cannot apply to this step (a page), or a form that is "
        "not one (problem details)",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            MEDIA_TYPE: {"schema": PROBLEM_SCHEMA},
        },
    },
    503: {"description": "no worker answered (or links are not configured)", **_HTML},
}
Token = Annotated[str, PathParam(min_length=1, max_length=4096, description="the signed token")]


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = _TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _refused(e: links.LinkRefused) -> HTMLResponse:
    headers = {"Retry-After": "5"} if e.status == 503 else {}
    page = _page("link_refused.html", e.status, title=e.title, message=e.message, claims=e.claims)
    page.headers.update(headers)
    return page


@router.get(
    "/links/{token}", response_class=HTMLResponse, responses=RESPONSES, include_in_schema=True
)
async def confirm(token: Token, request: Request) -> HTMLResponse:
    """The confirmation page: the prompt, the bound outputs, and the buttons. Decides nothing."""
    try:
        link = await links.open_link(request, token)
    except links.LinkRefused as e:
        return _refused(e)
    return _page("link_confirm.html", **links.page_context(link))


@router.post("/links/{token}", response_class=HTMLResponse, responses=RESPONSES)
async def decide(
    token: Token,
    request: Request,
    decision: Annotated[str, Form(max_length=80)],
    comment: Annotated[str, Form(max_length=COMMENT_LIMIT)] = "",
) -> HTMLResponse:
    """Decide with the link (`decision`: approve, reject, revise — with the feedback in
    `comment` — or `choose:<option>`), once."""
    try:
        link = await links.open_link(request, token)
        kind, option = links.parse_choice(link, decision, comment)
        receipt = await links.decide(request, link, kind, option, comment)
    except links.LinkRefused as e:
        return _refused(e)
    return _page(
        "link_done.html", claims=link.claims, decision=kind, option=option, receipt=receipt
    )
