"""Whether the database is out of reach: the errors that make a request a 503, not a 500
(docs/security.md, "Faults")."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from opendmp.domain.errors import Unavailable

DATABASE_UNAVAILABLE = Unavailable(
    "the database is unavailable for now: send the request again later",
    code="database-unavailable",
)

# SQLSTATE classes meaning "the server is not there for now": 08 connection exception,
# 57 operator intervention (shutdown, crash recovery, "cannot connect now"), 53300 too many
# connections. Anything else (a constraint, a syntax error) is a bug or a conflict.
_UNAVAILABLE_SQLSTATES = ("08", "57", "53300")


def is_database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached now (docs/security.md, "Faults").

    Looks through the chain SQLAlchemy and the driver build: a lost connection is a
    ``DBAPIError`` with ``connection_invalidated``; a refused new connection is the driver's
    bare ``OSError`` (asyncpg) or a PostgreSQL error of an "unavailable" SQLSTATE; a pool
    that waited too long for a connection is SQLAlchemy's ``TimeoutError``.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (sa_exc.TimeoutError, ConnectionError, TimeoutError)):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False
