"""A dependency that is down answers 503 with Retry-After, never a 500 or a hang.

Routes call the store (PostgreSQL) and Temporal directly; when either is unreachable the
error surfaces from deep inside a driver. These handlers turn exactly those errors (refused
or dropped connections, a server still starting, an RPC that Temporal could not serve in
time) into a problem document with `Retry-After`, so clients back off and retry. Anything
else (a bug, a constraint violation) still answers 500: it is not the dependency's fault.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from temporalio.service import RPCError, RPCStatusCode

from store.unreachable import database_down, raised_by_database_driver

RETRY_AFTER_S = 5
_TEMPORAL_DOWN = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


def temporal_down(exc: RPCError) -> bool:
    return exc.status in _TEMPORAL_DOWN


def install(app: FastAPI) -> None:
    from api.problems import problem_response

    def unavailable(request: Request, what: str, exc: BaseException) -> Response:
        response = problem_response(
            request,
            503,
            f"{what} unavailable",
            f"{what} cannot be reached; retry after {RETRY_AFTER_S} s "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})",
            f"{what.lower()}-unavailable",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    async def _db(request: Request, exc: Exception) -> Response:
        if not database_down(exc):
            raise exc  # not an outage: the server error handler answers 500
        return unavailable(request, "Database", exc)

    async def _os(request: Request, exc: Exception) -> Response:
        if not raised_by_database_driver(exc):
            raise exc
        return unavailable(request, "Database", exc)

    async def _temporal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RPCError)
        if not temporal_down(exc):
            raise exc
        return unavailable(request, "Temporal", exc)

    app.add_exception_handler(DBAPIError, _db)
    app.add_exception_handler(PoolTimeout, _db)
    app.add_exception_handler(OSError, _os)  # asyncpg's connect, unwrapped
    app.add_exception_handler(RPCError, _temporal)
