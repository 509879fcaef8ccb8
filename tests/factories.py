"""Factories for synthetic test data (test INS OID, obviously fake names)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from typing import cast

from sqlalchemy import select

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import NewEvent, append
from opendmp.domain.actors import CardKind, Operator, Patient, Professional
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind
from opendmp.domain.identifiers import (
    INS_NIR_TEST_OID,
    Ins,
    luhn_check_digit,
    parse_ins,
    with_ins_key,
)
from opendmp.services.core.context import ServiceContext
from opendmp.services.documents import DocumentSubmission
from opendmp.services.records.lifecycle import NewRecord
from opendmp.services.records.notice import current_notice
from opendmp.storage import models as m

_counter = itertools.count(1)
OPERATOR = Operator("test-operator")


def make_ins(n: int | None = None) -> Ins:
    """A valid test INS: a woman born in January 1980 in Paris, order number ``n``."""
    n = next(_counter) if n is None else n
    return parse_ins(with_ins_key(f"2800175123{n % 1000:03d}"), INS_NIR_TEST_OID)


def make_professional(
    n: int = 1,
    *,
    profession: str = "10",
    specialty: str | None = "SM54",
    organization: str | None = None,
    card_kind: CardKind = CardKind.CPS,
) -> Professional:
    body = f"997000{n:04d}"
    return Professional(
        idnat="8" + body + str(luhn_check_digit(body)),
        profession=profession,
        specialty=specialty,
        organization=organization,
        card_kind=card_kind,
        name=f"TESTPRO{n} Dominique",
    )


def patient_actor(ins: Ins) -> Patient:
    return Patient(ins=str(ins))


def make_consent(at: dt.datetime, *, confirmed: bool = True) -> Consent:
    notice = current_notice()
    return Consent(
        kind=ConsentKind.CREATION,
        channel=ConsentChannel.OPERATOR,
        captured_by_kind="operator",
        captured_by_id=OPERATOR.login,
        captured_by_name=None,
        place="tests",
        notice_version=notice.version,
        notice_sha256=notice.sha256,
        captured_at=at,
        patient_confirmed=confirmed,
    )


def new_record(ins: Ins, at: dt.datetime, **overrides: object) -> NewRecord:
    fields: dict[str, object] = {
        "ins": ins,
        "birth_name": "FICTIF",
        "given_names": ("Alex",),
        "birth_date": dt.date(1980, 1, 15),
        "sex": "F",
        "consent": make_consent(at),
        "email": "alex.fictif@example.org",
    }
    fields.update(overrides)
    return NewRecord(**fields)  # type: ignore[arg-type]


def submission(
    at: dt.datetime, content: bytes = b"%PDF-1.4 synthetic", **overrides: object
) -> DocumentSubmission:
    fields: dict[str, object] = {
        "unique_id": f"2.25.{uuid.uuid4().int}",
        "title": "Lettre de liaison de sortie",
        "type_code": "11490-0",
        "mime_type": "application/pdf",
        "format_code": "urn:ihe:iti:xds-sd:pdf:2008",
        "content": content,
        "creation_time": at,
        "service_start": at,
    }
    fields.update(overrides)
    return DocumentSubmission(**fields)  # type: ignore[arg-type]


async def store_foreign_event(ctx: ServiceContext, ins: Ins, code: str) -> None:
    """An event stored under ``code``, a code this version's vocabulary does not have (as an
    older or newer OpenDMP could have written), appended to the record's chain."""
    async with ctx.uow() as uow:
        record_id = await uow.session.scalar(
            select(m.Record.id)
            .join(m.Patient, m.Patient.id == m.Record.patient_id)
            .where(m.Patient.ins_value == ins.value)
        )
        event = NewEvent(action=cast(AuditAction, code), actor=OPERATOR, time=ctx.now())
        await append(uow.session, dataclasses.replace(event, record_id=record_id))
        await uow.commit()
