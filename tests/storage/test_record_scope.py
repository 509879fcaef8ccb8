"""The record-id check itself (tests/record_scope.py) flags what it must and only that."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from opendmp.storage import models as m
from opendmp.storage.scope import global_query
from tests.record_scope import unscoped

FLAGGED = {
    "a lookup by document id alone": "SELECT document.id FROM document WHERE document.id = ?",
    "an ORM update by id": "UPDATE authorization SET state=? WHERE authorization.id = ?",
    "a count of every row": "SELECT count(*) AS count_1 FROM consent",
    "a join naming one of two tables": (
        "SELECT document.id FROM document JOIN submission_set AS s ON s.id = "
        "document.submission_set_id WHERE document.record_id = ?"
    ),
    "an insert without the column": "INSERT INTO consent (id, kind) VALUES (?, ?)",
    "a marker not in the allow-list": "SELECT /* global: whatever */ * FROM document",
    "a false condition beside others": "SELECT 1 FROM document WHERE 0 = 1 OR document.id = ?",
}
PASSED = {
    "the record named": "SELECT document.id FROM document WHERE document.record_id = ? AND id = ?",
    "a list of records": 'SELECT 1 FROM "authorization" WHERE "authorization".record_id IN (?, ?)',
    "reached through the record": (
        "SELECT document.id FROM document JOIN record ON record.id = document.record_id"
    ),
    "an insert carrying it": "INSERT INTO consent (id, record_id, kind) VALUES (?, ?, ?)",
    "the system chain": "SELECT 1 FROM audit_event WHERE audit_event.record_id IS NULL",
    "an allowed global query": "SELECT /* global: directory */ 1 FROM document",
    "a table that is not per-record": "SELECT 1 FROM outbox WHERE outbox.id = ?",
    "DDL": "CREATE INDEX ix ON document (record_id)",
    "a constant false condition": "SELECT count(*) FROM submission_set WHERE 0 = 1",
}


@pytest.mark.parametrize("sql", list(FLAGGED.values()), ids=list(FLAGGED))
def test_statements_without_a_record_id_are_flagged(sql: str) -> None:
    assert unscoped(sql)


@pytest.mark.parametrize("sql", list(PASSED.values()), ids=list(PASSED))
def test_statements_naming_the_record_or_allowed_pass(sql: str) -> None:
    assert unscoped(sql) == []


def test_a_global_query_carries_its_marker_and_unknown_reasons_are_refused() -> None:
    marked = global_query(select(m.Document.id), "directory")
    assert "/* global: directory */" in str(marked)
    assert unscoped(str(marked)) == []
    with pytest.raises(ValueError, match="not an allowed global query"):
        global_query(select(m.Document.id), "because")
