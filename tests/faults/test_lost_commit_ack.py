"""The COMMIT of a deposit reaches the database, but its answer is lost with the connection
(docs/security.md, "Faults").

That is what a database stopped between applying a COMMIT and answering it leaves: the
rows are stored, the caller was told nothing. The caller must get a 503 it can retry, and
the stored document must stay whole — its blob must not be deleted as if the deposit had
failed. A hook on the engine's ``commit`` event commits on the database, then raises
the driver's connection error: the exact moment, every time (the PostgreSQL stop test meets it by
chance only).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from opendmp.app import Runtime
from opendmp.services.core.context import ServiceContext
from tests.api.provide_support import create_record_for
from tests.factories import make_ins
from tests.faults.fault_support import (
    assert_clear_error,
    assert_whole,
    deposit,
    http_client,
    iti105,
)
from tests.services.document_support import deposit as deposit_document
from tests.services.document_support import new_patient_record


class _LostAnswer:
    """Once armed: when a transaction that inserted a document commits, COMMIT it on the
    database, then fail as a connection dropped before the answer does."""

    def __init__(self) -> None:
        self.armed = False
        self._deposit = False

    def executed(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.armed and _DOCUMENT_INSERT.match(statement):
            self._deposit = True

    def commit(self, conn: Connection) -> None:
        if not self._deposit:
            return
        self.armed = self._deposit = False
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None
        dbapi_connection.commit()  # the database applies it ...
        raise ConnectionResetError(104, "Connection reset by peer")  # ... the answer is lost


_DOCUMENT_INSERT = re.compile(r'\s*INSERT INTO "?document"? ', re.IGNORECASE)


@pytest.fixture
def lost_answer(engine: AsyncEngine) -> Iterator[_LostAnswer]:
    hook, sync = _LostAnswer(), engine.sync_engine
    event.listen(sync, "after_cursor_execute", hook.executed)
    event.listen(sync, "commit", hook.commit)
    yield hook
    event.remove(sync, "after_cursor_execute", hook.executed)
    event.remove(sync, "commit", hook.commit)


async def test_a_deposit_whose_commit_answer_is_lost_stays_whole_and_can_be_retried(
    app: FastAPI, runtime: Runtime, lost_answer: _LostAnswer
) -> None:
    ins = make_ins()
    await create_record_for(runtime, ins)
    unique_id, _ = iti105(ins, 1)
    async with http_client(app) as http:
        lost_answer.armed = True
        response = await deposit(http, ins, 1, at=runtime.ctx.now())
        assert not lost_answer.armed, response.text
        assert response.status_code == 503, (response.status_code, response.text)
        assert_clear_error(response.status_code, response.json(), {503})
        assert response.headers["Retry-After"].isdigit()

        assert await assert_whole(runtime.ctx, {unique_id}) == 1
        # The caller retries: the document is stored once.
        again = await deposit(http, ins, 1, at=runtime.ctx.now())
    assert again.status_code in (200, 201), again.text
    assert await assert_whole(runtime.ctx, {unique_id}) == 1


async def test_a_patient_deposit_whose_commit_answer_is_lost_keeps_its_blob(
    ctx: ServiceContext, lost_answer: _LostAnswer
) -> None:
    """The portals' deposit (services/documents/form_deposits.py): same care as ITI-65/105."""
    ins = await new_patient_record(ctx)
    lost_answer.armed = True
    with pytest.raises(ConnectionResetError):
        await deposit_document(ctx, ins, unique_id="1.2.250.1.213.1.4.8.99999.7")
    assert not lost_answer.armed
    assert await assert_whole(ctx, {"1.2.250.1.213.1.4.8.99999.7"}) == 1
