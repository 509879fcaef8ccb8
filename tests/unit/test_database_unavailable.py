"""Which errors mean "the database cannot be reached now" (503), and which stay unexpected
(storage/availability.py; the real faults are in tests/faults)."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy import exc as sa_exc

from opendmp.storage.availability import is_database_unavailable


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


def _caused_by(cause: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("while rolling back") from cause
    except RuntimeError as error:
        return error


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        _wrapped(Exception("connection was closed"), invalidated=True),
        _wrapped(_DriverError("57P01")),  # admin shutdown
        _wrapped(_DriverError("57P03")),  # cannot connect now (starting up)
        _wrapped(_DriverError("08006")),  # connection failure
        _DriverError("53300"),  # too many connections, raised bare at connect
        sa_exc.TimeoutError("QueuePool limit reached"),
        _caused_by(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")),
    ],
)
def test_unreachable_database_errors_are_recognised(error: BaseException) -> None:
    assert is_database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(_DriverError("23505")),  # unique violation: a conflict, not an outage
        _wrapped(_DriverError("42601")),  # syntax error: a bug
        OSError(errno.ENOSPC, "No space left on device"),
        PermissionError(errno.EACCES, "Permission denied"),
        ValueError("unrelated"),
    ],
)
def test_other_errors_are_not_taken_for_an_outage(error: BaseException) -> None:
    assert not is_database_unavailable(error)
