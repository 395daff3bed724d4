"""Which errors mean "the database cannot be reached now" (refused or dropped connections, a
server starting or stopping, no pooled connection in time) rather than a bug or a refused
statement. One rule for the API (503 + Retry-After, api/dependencies_down.py) and for agent
steps (wait inside the attempt, activities/agent_step/outages.py); no web framework here."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def database_down(exc: BaseException) -> bool:
    """True for the errors SQLAlchemy and asyncpg raise when the database is unreachable. A
    bare OSError counts too: callers that may see one from elsewhere (a file, a socket of
    their own) check `raised_by_database_driver` as well (see `database_unreachable`)."""
    if isinstance(exc, PoolTimeout | OperationalError):
        return True  # no connection from the pool in time; SQLite's "unable to open", locks
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
        exc = getattr(exc, "__cause__", None) or exc  # the asyncpg error under the adapter's
    return isinstance(
        exc,
        OSError  # refused, reset, unreachable (ConnectionError and TimeoutError are ones)
        | asyncpg.PostgresConnectionError  # the connection died mid-use
        | asyncpg.CannotConnectNowError  # starting up or shutting down
        | asyncpg.InterfaceError,  # "connection is closed"
    )


def raised_by_database_driver(exc: BaseException) -> bool:
    """True when `exc` came out of asyncpg or SQLAlchemy (asyncpg's connect lets a refused
    connection's OSError through unwrapped; one from anywhere else is not the database's)."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("asyncpg", "sqlalchemy")):
            return True
        tb = tb.tb_next
    return False


def database_unreachable(exc: BaseException) -> bool:
    """`database_down`, with a bare OSError counted only when the driver raised it."""
    if isinstance(exc, OSError) and not raised_by_database_driver(exc):
        return False
    return database_down(exc)
