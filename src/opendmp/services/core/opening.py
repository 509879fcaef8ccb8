"""The opening of a consultation in one statement (docs/benchmarks.md, "The access check
in one statement").

A read (``guarded(..., audited_read=True)``: a search, a document read, ITI-67, ITI-68)
needs the record and its patient, the facts of the actor on it and, when it names one, the
document. ``open_for_read`` reads them in one statement: the patient joined to their record
by INS, a professional's facts as scalar subqueries correlated with the record row
(``facts.professional_facts``), the document left-joined on the record's id: every
per-record table it reads is constrained by that id (docs/database.md, "The record-id
rule"). Its rows are plain Core rows: ``Guarded.patient``, ``record`` and ``document`` are
built from them as transient entities (no session, no identity map), so they read like
loaded ones but are never flushed — which is why every other use case (writers, with or
without ``for_update``) keeps loading them into its session (``repositories.find_record``).

Other actors (patient, representative, caregiver) have their facts gathered as before
(``facts.actor_on_record``: none or one statement more).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Uuid, and_, bindparam, inspect, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import instance_dict

from opendmp.domain.actors import Actor, Professional
from opendmp.domain.identifiers import Ins
from opendmp.services.core.facts import (
    ActorOnRecord,
    actor_on_record,
    professional_facts,
    professional_on_record,
    professional_parameters,
    record_facts,
)
from opendmp.storage import models as m

E = TypeVar("E", bound=m.Base)


@dataclass(frozen=True, slots=True)
class Opening:
    """What a consultation's gate works with, read in one statement."""

    patient: m.Patient
    record: m.Record
    who: ActorOnRecord
    document: m.Document | None  # None when not asked for, or when the record has no such id


class _Columns:
    """An entity's columns, labelled with a prefix (patient and record share names)."""

    def __init__(self, entity: type[m.Base], prefix: str) -> None:
        self.prefix = prefix
        self.attributes = tuple(inspect(entity).column_attrs)
        self.keys = tuple(attr.key for attr in self.attributes)

    def selected(self) -> list[ColumnElement[Any]]:
        return [attr.columns[0].label(self.prefix + attr.key) for attr in self.attributes]

    def built(self, row: Any, entity: type[E]) -> E:
        """A transient ``entity`` holding ``row``'s values (never added to a session).

        Filled as the ORM fills a loaded instance (its ``__dict__``), not through the
        constructor, whose per-attribute events cost 30 µs for a document's 40 columns."""
        values = row._mapping
        built = cast(E, inspect(entity).class_manager.new_instance())
        instance_dict(built).update({key: values[self.prefix + key] for key in self.keys})
        return built


_PATIENT = _Columns(m.Patient, "p_")
_RECORD = _Columns(m.Record, "r_")
_DOCUMENT = _Columns(m.Document, "d_")


@functools.cache
def _statement(
    *, professional: bool, with_organization: bool, with_document: bool, by_record: bool
) -> Select[Any]:
    """Built once per shape, with bound parameters (``ins_value``, ``ins_oid``,
    ``document_id``, ``record_id`` when ``by_record`` and ``facts.professional_parameters``');
    the per-record tables it reads are all constrained by the record's id: the record row's
    when the statement finds it by INS, the parameter ``record_id`` when it is known
    (``by_record``: PostgreSQL then plans one partition of each table instead of sixteen)."""
    patient, record, document = (
        m.Base.metadata.tables[name] for name in ("patient", "record", "document")
    )
    record_id = bindparam("record_id", type_=Uuid()) if by_record else record.c.id
    columns = [*_PATIENT.selected(), *_RECORD.selected()]
    found = patient.join(record, record.c.patient_id == patient.c.id)
    if with_document:
        columns += _DOCUMENT.selected()
        found = found.outerjoin(
            document,
            and_(
                document.c.record_id == record_id,
                document.c.id == bindparam("document_id", type_=Uuid()),
            ),
        )
    if professional:
        ids, fact_columns = professional_facts(
            with_organization=with_organization, record_id=record_id
        )
        columns += fact_columns
        found = found.join(ids, true())
    query = (
        select(*columns)
        .select_from(found)
        .where(
            patient.c.ins_value == bindparam("ins_value"),
            patient.c.ins_oid == bindparam("ins_oid"),
        )
    )
    return query.where(record.c.id == record_id) if by_record else query


class KnownRecords:
    """The record id of recently opened INS, in this process: a hint, never trusted alone.

    A statement by record id still requires the patient's INS (``_statement``), so a stale
    hint (a record destroyed since) finds no row, is forgotten, and the INS decides. Bounded:
    the oldest hints go first."""

    def __init__(self, size: int = 65536) -> None:
        self.size = size
        self.ids: dict[tuple[str, str], uuid.UUID] = {}

    def get(self, ins: Ins) -> uuid.UUID | None:
        return self.ids.get((ins.value, ins.oid))

    def remember(self, ins: Ins, record_id: uuid.UUID) -> None:
        key = (ins.value, ins.oid)
        if key not in self.ids and len(self.ids) >= self.size:
            del self.ids[next(iter(self.ids))]
        self.ids[key] = record_id

    def forget(self, ins: Ins) -> None:
        self.ids.pop((ins.value, ins.oid), None)


KNOWN_RECORDS = KnownRecords()


async def open_for_read(
    session: AsyncSession,
    *,
    ins: Ins,
    actor: Actor,
    now: dt.datetime,
    include_superseded: bool = False,
    document_id: uuid.UUID | None = None,
) -> Opening | None:
    """The record of ``ins`` with its patient, ``actor``'s facts on it and the document
    ``document_id`` names (if any); None when no record has this INS."""
    params: dict[str, Any] = {"ins_value": ins.value, "ins_oid": ins.oid}
    if document_id is not None:
        params["document_id"] = document_id
    if isinstance(actor, Professional):
        params |= professional_parameters(actor, now)
    row = await _opening_row(session, ins, actor, params)
    if row is None:
        return None
    patient, record = _PATIENT.built(row, m.Patient), _RECORD.built(row, m.Record)
    document = None
    if document_id is not None and row.d_id is not None:
        document = _DOCUMENT.built(row, m.Document)
    if isinstance(actor, Professional):
        base = record_facts(record, include_superseded=include_superseded)
        who = await professional_on_record(session, actor, base, row, record.id)
    else:
        who = await actor_on_record(
            session,
            actor=actor,
            patient=patient,
            record=record,
            now=now,
            include_superseded=include_superseded,
        )
    return Opening(patient, record, who, document)


async def _opening_row(
    session: AsyncSession, ins: Ins, actor: Actor, params: dict[str, Any]
) -> Any:
    """The opening's row: by the record id known for ``ins`` if any (``KNOWN_RECORDS``),
    else, or when that finds nothing, by the INS alone."""
    shape = {
        "professional": isinstance(actor, Professional),
        "with_organization": isinstance(actor, Professional) and bool(actor.organization),
        "with_document": "document_id" in params,
    }
    # On the session's connection: a Core statement skips the ORM's execution layer there.
    connection = await session.connection()
    known = KNOWN_RECORDS.get(ins)
    if known is not None:
        statement = _statement(**shape, by_record=True)
        row = (await connection.execute(statement, {**params, "record_id": known})).one_or_none()
        if row is not None:
            return row
        KNOWN_RECORDS.forget(ins)
    row = (await connection.execute(_statement(**shape, by_record=False), params)).one_or_none()
    if row is not None:
        KNOWN_RECORDS.remember(ins, row.r_id)
    return row
