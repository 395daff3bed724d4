"""Who is calling: every request carries an API key (`Authorization: Bearer <key>` or
`X-API-Key`); the key gives a principal — tenant, role, name — which is also the `by` of the
decisions it takes. Roles gate routes. Keys are never logged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, Request

from api.problems import Problem

Role = Literal["admin", "operator", "approver", "viewer"]
RANK: dict[str, int] = {"viewer": 0, "approver": 1, "operator": 2, "admin": 3}
"""Each role may do what the roles below it may (an operator also approves and views)."""


class PrincipalLike(Protocol):
    tenant: str
    role: str
    name: str
    key_id: str


def _raw_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def principal(request: Request) -> Any:
    raw = _raw_key(request)
    if raw is None:
        raise Problem(
            401,
            "Unauthorized",
            "no API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    store = request.app.state.store
    found = await store.principal_for_key(raw)
    if found is None:
        raise Problem(
            401,
            "Unauthorized",
            "the API key is unknown, revoked or expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = found
    from api.admission import check_rate_limit

    await check_rate_limit(request, found)  # 429 / 503 (Redis down) before any route work
    return found


def require(role: Role) -> Callable[[Request], Awaitable[Any]]:
    """A dependency admitting principals of `role` or above."""

    async def check(request: Request) -> Any:
        who = await principal(request)
        if RANK.get(who.role, -1) < RANK[role]:
            raise Problem(
                403,
                "Forbidden",
                f"this needs the {role} role; the key `{who.key_id}` is {who.role}",
            )
        return who

    return check


# Route parameters: `who: Operator` admits operators and admins, and gives their principal.
Viewer = Annotated[Any, Depends(require("viewer"))]
Approver = Annotated[Any, Depends(require("approver"))]
Operator = Annotated[Any, Depends(require("operator"))]
Admin = Annotated[Any, Depends(require("admin"))]
