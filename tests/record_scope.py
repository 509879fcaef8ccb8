"""The record-id statement check (docs/database.md, "The record-id rule").

Every SQL statement sent to a database while a test runs goes through ``unscoped``: a
statement that reads or writes a per-record table must constrain its record id (a
``record_id =`` / ``IN`` condition on each per-record table it names, or an INSERT that
carries the column), unless it carries a ``/* global: <reason> */`` marker with a reason of
the allow-list (``opendmp.storage.scope.GLOBAL_QUERIES``). The autouse fixture of
tests/conftest.py fails the test at teardown, naming each offending statement.
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import HasPrefixes

from opendmp.storage import models as m
from opendmp.storage.scope import GLOBAL_QUERIES, PARTITIONED_TABLES

LOG = os.environ.get("OPENDMP_RECORD_SCOPE_LOG")
# Statements of the test fixtures themselves (emptying every table between tests).
TEST_ONLY_REASONS = frozenset({"tests"})

_TABLES = "|".join(PARTITIONED_TABLES)
_REFERENCE = re.compile(
    rf'(?:\bFROM|\bJOIN|\bINTO|\bUPDATE|,)\s+"?({_TABLES})"?(?![\w.])'
    r'(?:\s+(?:AS\s+)?"?(?!(?:WHERE|ON|SET|JOIN|LEFT|INNER|ORDER|GROUP|LIMIT|FOR|VALUES|USING'
    r'|RETURNING)\b)(\w+)"?)?',
    re.IGNORECASE,
)
_MARKER = re.compile(r"/\* global: ([\w-]+) \*/")
_CHECKED = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
# A WHERE that is constant false (SQLAlchemy folds ``and_(..., false())`` into it) reads no
# row of any partition: nothing to constrain.
_NOTHING = re.compile(r"\bWHERE\s+(?:0 = 1|false)\s*(?:$|\)|ORDER|LIMIT|GROUP)", re.IGNORECASE)
_INSERT = re.compile(rf'\bINSERT\s+INTO\s+"?({_TABLES})"?\s*\(([^)]*)\)', re.IGNORECASE)


def _constrained(statement: str, alias: str, *, alone: bool) -> bool:
    qualifier = rf'(?:"?{re.escape(alias)}"?\.)' + ("?" if alone else "")
    # ``IS ?`` / ``IS NOT DISTINCT FROM``: SQLAlchemy's ``is_not_distinct_from`` (a record id
    # or NULL, the system chain's) on SQLite and PostgreSQL.
    compare = r"(?:=|IN\s*\(|IS\s+(?:NULL|\?|%\(|\$\d)|IS\s+NOT\s+DISTINCT\s+FROM)"
    condition = rf"(?<![\w.]){qualifier}record_id\s*{compare}"
    reverse = rf"=\s*{qualifier}record_id\b"
    return bool(re.search(condition, statement, re.IGNORECASE)) or bool(
        re.search(reverse, statement, re.IGNORECASE)
    )


def unscoped(statement: str) -> list[str]:
    """The per-record tables ``statement`` touches without constraining their record id."""
    return list(_unscoped(statement))


# The verdict depends on the statement's text alone, and SQLAlchemy sends the same texts
# again and again (its compiled cache, bound parameters): each distinct text is examined once.
@functools.lru_cache(maxsize=16384)
def _unscoped(statement: str) -> tuple[str, ...]:
    if not _CHECKED.match(statement) or "_alembic_tmp_" in statement:
        return ()  # (the second: Alembic's SQLite batch copy of a table, in a migration)
    marker = _MARKER.search(statement)
    if marker and (marker[1] in GLOBAL_QUERIES or marker[1] in TEST_ONLY_REASONS):
        return ()
    if _NOTHING.search(statement):
        return ()
    inserted = {
        found[1].lower()
        for found in _INSERT.finditer(statement)
        if re.search(r"\brecord_id\b", found[2])
    }
    references = [
        (found[1].lower(), (found[2] or found[1]).lower())
        for found in _REFERENCE.finditer(statement)
        if not (found[0].upper().startswith("INTO") and found[1].lower() in inserted)
    ]
    alone = len(references) == 1
    return tuple(
        table for table, alias in references if not _constrained(statement, alias, alone=alone)
    )


class StatementCapture:
    """The offending statements seen since the last ``take``."""

    def __init__(self) -> None:
        self.offending: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not _SUSPENDED and _unscoped(statement):
            flat = " ".join(statement.split())
            self.offending.append(flat)
            if LOG:  # collect them all in one run (development aid)
                with open(LOG, "a", encoding="utf-8") as log:
                    log.write(flat + "\n")

    def take(self) -> list[str]:
        found, self.offending = self.offending, []
        return found


_SUSPENDED: list[str] = []


@contextmanager
def tampering(why: str) -> Iterator[None]:
    """Statements of a test that alters rows behind the services' back (an audit event
    changed by hand, to prove verification finds it): not checked while it lasts."""
    _SUSPENDED.append(why)
    try:
        yield
    finally:
        _SUSPENDED.pop()


@contextmanager
def capturing() -> Iterator[StatementCapture]:
    capture = StatementCapture()
    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield capture
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


S = TypeVar("S", bound=HasPrefixes)


def whole_database(statement: S) -> S:
    """A test's own look at every row (a snapshot, the latest events): allowed, in tests."""
    return statement.prefix_with("/* global: tests */")


async def document_by_id(session: AsyncSession, document_id: uuid.UUID) -> m.Document | None:
    """A test's look at a document row by its id alone (the services name the record)."""
    query = whole_database(select(m.Document).where(m.Document.id == document_id))
    found: m.Document | None = (await session.execute(query)).scalar_one_or_none()
    return found
