"""Errors as RFC 9457 problem details (`application/problem+json`) naming what is wrong."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.redis_conn import LimitsUnavailable

PROBLEM_TYPE = "https://bizos.dev/problems/"
MEDIA_TYPE = "application/problem+json"


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
_WHY = {
    400: "the body is not JSON",
    401: "no key, or an unknown, revoked or expired one",
    402: "the tenant's monthly budget is spent",
    403: "the key's role may not do this",
    404: "no such resource for this tenant",
    409: "the request conflicts with the resource's state (or an idempotent twin in flight)",
    413: "the body is larger than the limit",
    422: "the request names something invalid (the problem's `errors` say which field)",
    429: "a rate limit: retry after Retry-After seconds",
    503: "a dependency (Temporal, database, Redis, workers) is unavailable: retry later",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {
        "description": f"Problem details: {why}",
        "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
    }
    for status, why in _WHY.items()
}
"""Every `/v1` route may answer these (declared so clients and schema checks know them)."""


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: Request, status: int, title: str, detail: str, kind: str, **extra: Any
) -> Response:
    html = getattr(request.app.state, "html_problem", None)
    from api.console import wants_html  # the console imports this module: not at the top

    if html is not None and wants_html(request):  # a console page: a page a person can read
        return html(request, status, title, detail)  # type: ignore[no-any-return]
    body = {
        "type": PROBLEM_TYPE + kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def install(app: FastAPI) -> None:
    from api import dependencies_down

    dependencies_down.install(app)  # PostgreSQL or Temporal down: 503 + Retry-After

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        response = problem_response(
            request, exc.status, exc.title, exc.detail, exc.kind, **exc.extra
        )
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(LimitsUnavailable)
    async def _limits_down(request: Request, exc: LimitsUnavailable) -> Response:
        response = problem_response(
            request,
            503,
            "Limits unavailable",
            f"rate limits and idempotency records cannot be checked: {exc.detail}",
            "limits-unavailable",
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p != "body"),
                "problem": err["msg"],
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field'] or '(body)'}: {e['problem']}" for e in errors)
        return problem_response(
            request, 422, "Invalid request", detail, "invalid-request", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        response = problem_response(
            request, exc.status_code, title, str(exc.detail), title.lower().replace(" ", "-")
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response
