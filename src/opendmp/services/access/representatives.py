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
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace

from sqlalchemy import delete, insert, select, update

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


@dataclass(frozen=True, slots=True)
class NewRepresentative:
    """A legal representative as the desk or the CLI records them."""

    relation: str
    family_name: str
    given_name: str
    email: str | None = None


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
    new = NewRepresentative(relation.strip().upper(), family_name, given_name, email)
    _validate(new.relation, family_name, given_name, email)
    async with _adding(ctx, actor, ins, new.relation) as g:
        view = await _insert(g, new)
        await g.uow.commit()
        return view


async def add_representative_with_credentials(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, new: NewRepresentative
) -> tuple[RepresentativeView, Credentials]:
    """Record a representative and issue their first login and one-time password, in one
    transaction (the admission desk: docs/portals.md "Legal representatives")."""
    new = replace(new, relation=new.relation.strip().upper())
    _validate(new.relation, new.family_name, new.given_name, new.email)
    async with _adding(ctx, actor, ins, new.relation) as g:
        view = await _insert(g, new)
        credentials = await create_account(
            ctx, g.uow, record_id=g.record.id, now=g.now, actor=actor
        )
        account_id = (
            await g.session.execute(
                select(m.Account.id).where(m.Account.login == credentials.login)
            )
        ).scalar_one()
        await g.session.execute(
            update(m.Representative)
            .where(m.Representative.record_id == g.record.id, m.Representative.id == view.id)
            .values(account_id=account_id)
        )
        await g.audit_allowed(
            AuditAction.ACCOUNT_ISSUE_REPRESENTATIVE_CREDENTIALS,
            {"representative": str(view.id), "account": str(account_id)},
        )
        await g.uow.commit()
        return view, credentials


def _adding(
    ctx: ServiceContext, actor: Actor, ins: Ins, relation: str
) -> AbstractAsyncContextManager[Guarded]:
    return guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.ADD_REPRESENTATIVE,
        audit_action=AuditAction.REPRESENTATIVE_ADD,
        for_update=True,
        audit_unknown_record=True,
        details={"relation": relation},
    )


async def _insert(g: Guarded, new: NewRepresentative) -> RepresentativeView:
    """The representative's row, and its audit event (names stay out of the trace: it is
    kept with the record, names are in the row)."""
    view = RepresentativeView(
        id=uuid.uuid4(),
        record_id=g.record.id,
        relation=new.relation,
        family_name=new.family_name.strip().upper(),
        given_name=new.given_name.strip(),
        email=new.email,
        created_at=g.now,
    )
    await g.session.execute(
        insert(m.Representative).values(
            id=view.id,
            record_id=g.record.id,
            relation=view.relation,
            family_name=view.family_name,
            given_name=view.given_name,
            email=view.email,
            account_id=None,
            created_at=g.now,
        )
    )
    await g.audit_allowed(
        AuditAction.REPRESENTATIVE_ADD,
        {"representative": str(view.id), "relation": new.relation},
    )
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
