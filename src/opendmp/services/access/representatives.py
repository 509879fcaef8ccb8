"""Legal representatives of a minor (docs/rules.md §2): recorded by the patient's side or by an
operator on documentary evidence; never by a representative (the policy says so).

A representative signs in to the patient portal with an account of their own
(:func:`issue_representative_credentials`: a login and a one-time password, returned once
to be handed over like the desk's welcome letter). The account belongs to the minor's
record and is linked from the representative's row; a session on it acts as
:class:`~opendmp.domain.actors.LegalRepresentative`, so the policy hides
``INVISIBLE_REPRESENTANTS_LEGAUX`` documents and keeps export and visibility to the patient.
Removing the representative deletes the account (and its sessions).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.codes import REPRESENTATIVE_RELATIONS
from opendmp.domain.errors import InvalidInput, NotFound
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.accounts.patient_accounts import create_account
from opendmp.services.accounts.state import Credentials, reissue_credentials
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import Guarded, guarded
from opendmp.storage import models as m

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class RepresentativeView:
    id: uuid.UUID
    record_id: uuid.UUID
    relation: str
    family_name: str
    given_name: str
    email: str | None
    created_at: dt.datetime


def _validate(relation: str, family_name: str, given_name: str, email: str | None) -> None:
    problems = []
    if relation not in REPRESENTATIVE_RELATIONS:
        known = ", ".join(REPRESENTATIVE_RELATIONS)
        problems.append(f"relation {relation!r} is not known (expected one of {known})")
    if not family_name.strip() or not given_name.strip():
        problems.append("the family name and the given name are required")
    if len(family_name) > 128 or len(given_name) > 128:
        problems.append("names are at most 128 characters")
    if email is not None and (len(email) > 255 or not EMAIL_PATTERN.match(email)):
        problems.append("the e-mail address is not valid")
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-representative")


async def add_representative(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    relation: str,
    family_name: str,
    given_name: str,
    email: str | None = None,
) -> RepresentativeView:
    relation = relation.strip().upper()
    _validate(relation, family_name, given_name, email)
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.MANAGE_REPRESENTATIVES,
        audit_action=AuditAction.REPRESENTATIVE_ADD,
        for_update=True,
        audit_unknown_record=True,
        details={"relation": relation},
    ) as g:
        session, record, now = g.session, g.record, g.now
        view = RepresentativeView(
            id=uuid.uuid4(),
            record_id=record.id,
            relation=relation,
            family_name=family_name.strip().upper(),
            given_name=given_name.strip(),
            email=email,
            created_at=now,
        )
        await session.execute(
            insert(m.Representative).values(
                id=view.id,
                record_id=record.id,
                relation=view.relation,
                family_name=view.family_name,
                given_name=view.given_name,
                email=view.email,
                account_id=None,
                created_at=now,
            )
        )
        # Names stay out of the trace (it is kept with the record, names are in the row).
        await g.audit_allowed(
            AuditAction.REPRESENTATIVE_ADD,
            {"representative": str(view.id), "relation": relation},
        )
        await g.uow.commit()
        return view


async def _representative(
    g: Guarded, representative_id: uuid.UUID, audit_action: AuditAction
) -> m.Representative:
    """The record's representative ``representative_id``, locked; an audited 404 otherwise."""
    representative = (
        await g.session.execute(
            select(m.Representative)
            .where(
                m.Representative.record_id == g.record.id,
                m.Representative.id == representative_id,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if representative is None:
        error = NotFound("no such representative", code="representative-not-found")
        await g.fail(audit_action, error)
    return representative


async def remove_representative(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, representative_id: uuid.UUID
) -> None:
    details = {"representative": str(representative_id)}
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.MANAGE_REPRESENTATIVES,
        audit_action=AuditAction.REPRESENTATIVE_REMOVE,
        for_update=True,
        audit_unknown_record=True,
        details=details,
    ) as g:
        uow, session = g.uow, g.session
        representative = await _representative(
            g, representative_id, AuditAction.REPRESENTATIVE_REMOVE
        )
        account_id = representative.account_id
        await session.delete(representative)
        if account_id is not None:
            # Left behind, the account would sign in as the record's patient: it goes too
            # (its sessions with it, ON DELETE CASCADE).
            await session.flush()
            await session.execute(delete(m.Account).where(m.Account.id == account_id))
            details["account_deleted"] = str(account_id)
        await g.audit_allowed(AuditAction.REPRESENTATIVE_REMOVE, details)
        await uow.commit()


async def issue_representative_credentials(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, representative_id: uuid.UUID
) -> Credentials:
    """A login and a one-time password for a representative of the record (a new account,
    or new credentials for their existing one: second factor cleared, sessions ended).

    Returned once, to print or hand over; only the password's hash is kept. Whoever may
    manage the record's representatives may do this (an operator by procedure, the
    patient's side); a representative may not (policy).
    """
    details = {"representative": str(representative_id)}
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.MANAGE_REPRESENTATIVES,
        audit_action=AuditAction.ACCOUNT_ISSUE_REPRESENTATIVE_CREDENTIALS,
        for_update=True,
        audit_unknown_record=True,
        details=details,
    ) as g:
        uow, session, record, now = g.uow, g.session, g.record, g.now
        representative = await _representative(
            g, representative_id, AuditAction.ACCOUNT_ISSUE_REPRESENTATIVE_CREDENTIALS
        )
        account = (
            await session.get(m.Account, representative.account_id)
            if representative.account_id is not None
            else None
        )
        if account is None:
            credentials = await create_account(ctx, uow, record_id=record.id, now=now, actor=actor)
            account_id = (
                await session.execute(
                    select(m.Account.id).where(m.Account.login == credentials.login)
                )
            ).scalar_one()
            representative.account_id = account_id
            details["account"] = str(account_id)
        else:
            credentials = (await reissue_credentials(ctx, session, account, now)).credentials
            details["account"] = str(account.id)
        await g.audit_allowed(AuditAction.ACCOUNT_ISSUE_REPRESENTATIVE_CREDENTIALS, details)
        await uow.commit()
        return credentials
