"""Delegations (docs/rules.md §3.7): the patient invites a relative as caregiver (aidant), or a
minor's side invites a second legal representative; the relative accepts with their own
patient account and acts on the record as themself, "on behalf of" the patient.

- ``invite_caregiver`` / ``invite_representative``: a pending invitation, its e-mail (a
  one-time link, no health data, no name) queued in the outbox in the same transaction;
- ``list_delegations`` and ``revoke_delegation``: the patient's side sees and ends them
  (a revocation takes effect at once: the facts read the row on every request);
- ``find_invitation``, ``answer_invitation``: the invited person, signed in with their own
  account, reads and accepts or refuses it (the policy: ``Action.ANSWER_INVITATION``); the
  record's holder is e-mailed the answer (its role and dates only) in the same transaction;
- ``held_delegations``: what a signed-in person may act for (the portal's switch).

Only the SHA-256 of an invitation's code is stored. The policy decides everything a
caregiver does (``policy._decide_for_caregiver``, facts ``delegated_rights``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor, Patient
from opendmp.domain.codes import REPRESENTATIVE_RELATIONS
from opendmp.domain.delegations import (
    Kind,
    Right,
    State,
    Status,
    check_dates,
    dump_rights,
    live_rights,
    load_rights,
    parse_rights,
    state_of,
)
from opendmp.domain.errors import AccessDenied, AuthenticationFailed, InvalidInput, NotFound
from opendmp.domain.identifiers import Ins, parse_ins
from opendmp.domain.local_time import paris_date
from opendmp.domain.policy import Action, Facts
from opendmp.services.access.representatives import EMAIL_PATTERN
from opendmp.services.accounts.sessions import (
    ActingFor,
    Holder,
    Stage,
    load_attributes,
    load_session,
)
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import Guarded, guarded
from opendmp.services.core.notifications import enqueue_notification
from opendmp.services.records.onboarding import age_on
from opendmp.storage import models as m
from opendmp.storage.scope import global_query

CODE_BYTES = 18
INVITATION_KIND = "delegation-invitation"
ACCEPTED_KIND = "delegation-accepted"
REFUSED_KIND = "delegation-refused"
ADULT_AGE = 18


@dataclass(frozen=True, slots=True)
class DelegationView:
    """A delegation as the patient's side sees it (and the invited person, once signed in)."""

    id: uuid.UUID
    kind: Kind
    state: State
    rights: frozenset[Right]
    starts_on: dt.date | None
    ends_on: dt.date | None
    email: str
    relation: str | None
    invited_at: dt.datetime
    invitation_expires_at: dt.datetime
    caregiver_name: str | None
    live: bool  # accepted and today within its dates


@dataclass(frozen=True, slots=True)
class InvitationView:
    """An invitation as the invited person reads it: whose record and what it grants."""

    delegation: DelegationView
    patient_name: str


@dataclass(frozen=True, slots=True)
class HeldDelegation:
    """A delegation a signed-in person holds: the record they may switch to."""

    id: uuid.UUID
    kind: Kind
    patient_ins: str
    patient_name: str
    relation: str | None
    rights: frozenset[Right]
    ends_on: dt.date | None
    caregiver_name: str | None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _view(row: m.Delegation, now: dt.datetime) -> DelegationView:
    today = paris_date(now)
    status = Status(row.status)
    rights = load_rights(row.rights)
    return DelegationView(
        id=row.id,
        kind=Kind(row.kind),
        state=state_of(
            status,
            invitation_expires_at=row.invitation_expires_at,
            ends_on=row.ends_on,
            now=now,
            today=today,
        ),
        rights=rights,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        email=row.email,
        relation=row.relation,
        invited_at=row.invited_at,
        invitation_expires_at=row.invitation_expires_at,
        caregiver_name=row.caregiver_name,
        live=bool(
            live_rights(status, rights, starts_on=row.starts_on, ends_on=row.ends_on, today=today)
        )
        or (row.kind == Kind.REPRESENTATIVE.value and status is Status.ACCEPTED),
    )


def _person_name(patient: m.Patient) -> str:
    given = patient.given_names.split(" ")[0] if patient.given_names else ""
    return f"{given} {patient.used_name or patient.birth_name}".strip()


def _check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 255 or not EMAIL_PATTERN.match(email):
        raise InvalidInput("the e-mail address is not valid", code="invalid-email")
    return email


# --- inviting -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Invitation:
    kind: Kind
    email: str
    rights: frozenset[Right] = frozenset()
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class CaregiverInvitation:
    """What the patient fills in: the relative's e-mail, the rights, the dates (Paris
    dates, both included)."""

    email: str
    rights: tuple[str, ...]
    starts_on: dt.date
    ends_on: dt.date


async def invite_caregiver(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    invitation: CaregiverInvitation,
    language: str = "fr",
) -> DelegationView:
    """Invite a relative as caregiver with the rights and dates of ``invitation``."""
    checked = _Invitation(
        Kind.CAREGIVER,
        _check_email(invitation.email),
        parse_rights(invitation.rights),
        invitation.starts_on,
        invitation.ends_on,
    )
    check_dates(invitation.starts_on, invitation.ends_on, paris_date(ctx.now()))
    return await _invite(ctx, actor=actor, ins=ins, invitation=checked, language=language)


async def invite_representative(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    email: str,
    relation: str,
    language: str = "fr",
) -> DelegationView:
    """Invite ``email`` as the minor's (second) legal representative, as ``relation``."""
    relation = relation.strip().upper()
    if relation not in REPRESENTATIVE_RELATIONS:
        raise InvalidInput("this relation is not known", code="invalid-representative")
    invitation = _Invitation(Kind.REPRESENTATIVE, _check_email(email), relation=relation)
    return await _invite(ctx, actor=actor, ins=ins, invitation=invitation, language=language)


async def _invite(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, invitation: _Invitation, language: str
) -> DelegationView:
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.MANAGE_DELEGATIONS,
        audit_action=AuditAction.DELEGATION_INVITE,
        for_update=True,
        audit_unknown_record=True,
        details={"kind": invitation.kind.value},
    ) as g:
        now = g.now
        if invitation.kind is Kind.REPRESENTATIVE and (
            age_on(g.patient.birth_date, paris_date(now)) >= ADULT_AGE
        ):
            await g.fail(
                AuditAction.DELEGATION_INVITE,
                InvalidInput("the patient is not a minor", code="patient-not-minor"),
            )
        code = secrets.token_urlsafe(CODE_BYTES)
        row = m.Delegation(
            id=uuid.uuid4(),
            record_id=g.record.id,
            kind=invitation.kind.value,
            relation=invitation.relation,
            rights=dump_rights(invitation.rights),
            starts_on=invitation.starts_on,
            ends_on=invitation.ends_on,
            email=invitation.email,
            status=Status.PENDING.value,
            code_hash=code_hash(code),
            invited_by_kind=actor.kind.value,
            invited_at=now,
            invitation_expires_at=now + ctx.access.delegation_invitation_validity,
        )
        g.session.add(row)
        await g.session.flush()
        await enqueue_notification(
            g.session,
            record_id=g.record.id,
            kind=INVITATION_KIND,
            recipient=invitation.email,
            payload={
                "at": now.isoformat(),
                "until": row.invitation_expires_at.isoformat(),
                "link": f"{ctx.base_url.rstrip('/')}/patient/invitation/{code}",
                "role": invitation.kind.value,
            },
            now=now,
            language=language,
        )
        # The address stays out of the trace (it is in the row, kept with the record).
        await g.audit_allowed(
            AuditAction.DELEGATION_INVITE,
            {
                "delegation": str(row.id),
                "kind": invitation.kind.value,
                "rights": row.rights,
                "starts_on": str(row.starts_on or ""),
                "ends_on": str(row.ends_on or ""),
            },
        )
        view = _view(row, now)
        await g.uow.commit()
        return view


# --- the patient's side: list and revoke ------------------------------------------------------


async def list_delegations(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> list[DelegationView]:
    """Every delegation of the record, newest first, in its state now."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.MANAGE_DELEGATIONS,
        audit_action=AuditAction.DELEGATION_LIST,
        audited_read=True,
    ) as g:
        rows = (
            await g.session.execute(
                select(m.Delegation)
                .where(m.Delegation.record_id == g.record.id)
                .order_by(m.Delegation.invited_at.desc(), m.Delegation.id)
            )
        ).scalars()
        views = [_view(row, g.now) for row in rows]
        await g.audit(AuditAction.DELEGATION_LIST, {"delegations": len(views)})
        await g.uow.commit()
        return views


async def _delegation(
    g: Guarded, delegation_id: uuid.UUID, audit_action: AuditAction
) -> m.Delegation:
    """The record's delegation ``delegation_id``, locked; an audited 404 otherwise."""
    row = (
        await g.session.execute(
            select(m.Delegation)
            .where(m.Delegation.record_id == g.record.id, m.Delegation.id == delegation_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        await g.fail(audit_action, NotFound("no such delegation", code="delegation-not-found"))
    return row


async def revoke_delegation(
    ctx: ServiceContext, *, actor: Actor, ins: Ins, delegation_id: uuid.UUID
) -> DelegationView:
    """End a delegation now, whatever its state (a pending invitation can no longer be
    accepted; an accepted caregiver loses the record at their next request). A
    representative who joined by invitation is removed from the record's representatives."""
    details = {"delegation": str(delegation_id)}
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.MANAGE_DELEGATIONS,
        audit_action=AuditAction.DELEGATION_REVOKE,
        for_update=True,
        audit_unknown_record=True,
        details=details,
    ) as g:
        row = await _delegation(g, delegation_id, AuditAction.DELEGATION_REVOKE)
        if row.status == Status.REVOKED.value:
            return _view(row, g.now)  # already ended: nothing to change, nothing to trace
        row.status = Status.REVOKED.value
        row.revoked_at = g.now
        if row.representative_id is not None:
            representative = await g.session.get(
                m.Representative, (row.representative_id, g.record.id)
            )
            if representative is not None:
                await g.session.delete(representative)
                details["representative_removed"] = str(row.representative_id)
        await g.audit_allowed(AuditAction.DELEGATION_REVOKE, details)
        view = _view(row, g.now)
        await g.uow.commit()
        return view


# --- the invited person ---------------------------------------------------------------------------


async def _by_code(session: AsyncSession, code: str) -> tuple[uuid.UUID, uuid.UUID, Ins] | None:
    """(delegation id, record id, the record's INS) of the invitation with this code."""
    if not code or len(code) > 64:
        return None
    d = m.Delegation
    statement = global_query(
        select(d.id, d.record_id, m.Patient.ins_oid, m.Patient.ins_value)
        .join(m.Record, m.Record.id == d.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .where(d.code_hash == code_hash(code)),
        "delegation",
    )
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    return row[0], row[1], parse_ins(row[3], row[2])


def _no_invitation() -> NotFound:
    return NotFound("no invitation has this code", code="invitation-not-found")


async def find_invitation(ctx: ServiceContext, *, actor: Patient, code: str) -> InvitationView:
    """The invitation of ``code`` as its holder reads it before answering (any state: an
    expired or answered one says so). The reading is audited in the inviting record."""
    return await _on_invitation(ctx, actor=actor, code=code, answer=None)


async def answer_invitation(
    ctx: ServiceContext, *, actor: Patient, account_id: uuid.UUID, code: str, accept: bool
) -> InvitationView:
    """Accept or refuse a pending, unexpired invitation with one's own patient account
    (``account_id``: the signed-in session's)."""
    return await _on_invitation(ctx, actor=actor, code=code, answer=accept, account_id=account_id)


async def _on_invitation(
    ctx: ServiceContext,
    *,
    actor: Patient,
    code: str,
    answer: bool | None,
    account_id: uuid.UUID | None = None,
) -> InvitationView:
    async with ctx.uow(read_only=True) as uow:
        found = await _by_code(uow.session, code)
        # Traced under their name: the inviting patient's history names who answered.
        actor = replace(actor, name=await _name_of(uow.session, actor))
    if found is None:
        raise _no_invitation()
    delegation_id, _record_id, ins = found
    audit_action = {
        None: AuditAction.DELEGATION_LIST,
        True: AuditAction.DELEGATION_ACCEPT,
        False: AuditAction.DELEGATION_REFUSE,
    }[answer]
    holder: dict[str, m.Delegation] = {}

    async def prepare(session: AsyncSession, record: m.Record, facts: Facts) -> Facts:
        row = (
            await session.execute(
                select(m.Delegation)
                .where(
                    m.Delegation.record_id == record.id,
                    m.Delegation.id == delegation_id,
                    m.Delegation.code_hash == code_hash(code),
                )
                .with_for_update()
            )
        ).scalar_one()
        holder["row"] = row
        # Reading it is allowed in any state (it says what became of it); answering, only
        # while it is pending and unexpired.
        pending = _view(row, ctx.now()).state is State.PENDING
        return replace(facts, holds_invitation=answer is None or pending)

    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.ANSWER_INVITATION,
        audit_action=audit_action,
        for_update=answer is not None,
        prepare=prepare,
        details={"delegation": str(delegation_id)},
    ) as g:
        row = holder["row"]
        details = {"delegation": str(row.id), "kind": row.kind}
        if answer is not None and account_id is not None:
            me = await _own_patient(g.session, account_id)
            row.status = (Status.ACCEPTED if answer else Status.REFUSED).value
            row.answered_at = g.now
            if answer:
                row.caregiver_account_id = me[0]
                row.caregiver_name = _person_name(me[1])
                if row.kind == Kind.REPRESENTATIVE.value:
                    row.representative_id = await _add_representative(g, row, me[1])
            await _tell_the_answer(g, row, accepted=answer)
        await g.audit_allowed(audit_action, details)
        view = InvitationView(_view(row, g.now), _person_name(g.patient))
        await g.uow.commit()
        return view


async def _tell_the_answer(g: Guarded, row: m.Delegation, *, accepted: bool) -> None:
    """E-mail the record's holder, in their language, that their invitation was accepted or
    refused: its role and dates only (no name, no address, no health data)."""
    if not g.patient.email:
        return
    await enqueue_notification(
        g.session,
        record_id=g.record.id,
        kind=ACCEPTED_KIND if accepted else REFUSED_KIND,
        recipient=g.patient.email,
        payload={
            "at": g.now.isoformat(),
            "invited_at": row.invited_at.isoformat(),
            "role": row.kind,
        },
        now=g.now,
        language=g.record.preferred_language,
    )


async def _name_of(session: AsyncSession, actor: Patient) -> str | None:
    oid, _, value = actor.ins.partition("|")
    person = (
        await session.execute(
            select(m.Patient).where(m.Patient.ins_value == value, m.Patient.ins_oid == oid)
        )
    ).scalar_one_or_none()
    return None if person is None else _person_name(person)


async def _own_patient(session: AsyncSession, account_id: uuid.UUID) -> tuple[uuid.UUID, m.Patient]:
    """The answering person's account id and the patient row of its record."""
    row = (
        await session.execute(
            select(m.Account.id, m.Patient)
            .join(m.Record, m.Record.id == m.Account.record_id)
            .join(m.Patient, m.Patient.id == m.Record.patient_id)
            .where(m.Account.id == account_id)
        )
    ).first()
    if row is None:
        raise NotFound("no account for this person", code="account-not-found")
    return row[0], row[1]


async def _add_representative(g: Guarded, row: m.Delegation, person: m.Patient) -> uuid.UUID:
    """The record's new legal representative, named as on their own record."""
    representative_id = uuid.uuid4()
    await g.session.execute(
        insert(m.Representative).values(
            id=representative_id,
            record_id=g.record.id,
            relation=row.relation or "RESPRSN",
            family_name=(person.used_name or person.birth_name).upper(),
            given_name=person.given_names.split(" ")[0],
            email=row.email,
            account_id=None,
            created_at=g.now,
        )
    )
    return representative_id


# --- what a signed-in person may act for ----------------------------------------------------------


async def held_delegations(ctx: ServiceContext, *, account_id: uuid.UUID) -> list[HeldDelegation]:
    """The live delegations ``account_id``'s holder accepted, across records (caregivers
    within their dates; representatives while they are on the record)."""
    d = m.Delegation
    statement = global_query(
        select(d, m.Patient)
        .join(m.Record, m.Record.id == d.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .where(d.caregiver_account_id == account_id, d.status == Status.ACCEPTED.value)
        .order_by(d.answered_at),
        "delegation",
    )
    now = ctx.now()
    async with ctx.uow(read_only=True) as uow:
        rows = (await uow.session.execute(statement)).all()
        views = [(_view(row, now), row, patient) for row, patient in rows]
        return [
            HeldDelegation(
                id=view.id,
                kind=view.kind,
                patient_ins=f"{patient.ins_oid}|{patient.ins_value}",
                patient_name=_person_name(patient),
                relation=row.relation,
                rights=view.rights,
                ends_on=view.ends_on,
                caregiver_name=view.caregiver_name,
            )
            for view, row, patient in views
            if view.live
        ]


# --- switching a session to a record one holds a delegation for -----------------------------------


async def act_for(ctx: ServiceContext, *, session_token: str, delegation_id: uuid.UUID) -> Holder:
    """Switch a full session of a person's own account to the record of a live delegation
    they accepted; from then on the session acts as its caregiver (or representative), as
    the policy allows, until they switch back or the delegation ends. Audited in that
    record as ``access:delegation:act``. Returns the new actor."""
    now = ctx.now()
    async with ctx.uow() as uow:
        found = await load_session(ctx, uow.session, session_token, now, for_update=True)
        if found is None:
            raise AuthenticationFailed("please sign in", code="not-signed-in")
        row, account, holder = found
        if Stage(row.stage) is not Stage.FULL or holder.representative_id is not None:
            raise AccessDenied(
                "only a person's own account acts for others", code="actor-not-permitted"
            )
        held = {h.id: h for h in await held_delegations(ctx, account_id=account.id)}
        target = held.get(delegation_id)
        if target is None:
            raise NotFound("no such delegation", code="delegation-not-found")
        acting = await _acting_from(uow.session, target, account.id)
        actor = replace(holder, acting_for=acting).actor
        oid, _, value = target.patient_ins.partition("|")
        async with guarded(
            ctx,
            actor=actor,
            ins=parse_ins(value, oid),
            action=Action.READ_RECORD_STATUS,
            audit_action=AuditAction.DELEGATION_ACT,
            uow=uow,
        ) as g:
            attributes = {**load_attributes(row), "acting_for": acting.as_attribute()}
            await g.session.execute(
                update(m.WebSession)
                .where(m.WebSession.id == row.id)
                .values(attributes=orjson.dumps(attributes).decode())
            )
            await g.audit(AuditAction.DELEGATION_ACT, {"delegation": str(delegation_id)})
            await uow.commit()
        return actor


async def _acting_from(
    session: AsyncSession, held: HeldDelegation, account_id: uuid.UUID
) -> ActingFor:
    d = m.Delegation
    row = (
        await session.execute(
            global_query(
                select(d.record_id, d.representative_id).where(
                    d.id == held.id, d.caregiver_account_id == account_id
                ),
                "delegation",
            )
        )
    ).one()
    return ActingFor(
        delegation_id=held.id,
        record_id=row.record_id,
        kind=held.kind,
        patient_ins=held.patient_ins,
        name=held.caregiver_name,
        representative_id=row.representative_id,
        relation=held.relation,
        rights=held.rights,
        patient_name=held.patient_name,
    )


async def act_as_self(ctx: ServiceContext, *, session_token: str) -> None:
    """Switch the session back to its own account's record (nothing to audit: no record is
    read by it)."""
    now = ctx.now()
    async with ctx.uow() as uow:
        found = await load_session(ctx, uow.session, session_token, now, for_update=True)
        if found is None:
            raise AuthenticationFailed("please sign in", code="not-signed-in")
        row = found[0]
        attributes = {k: v for k, v in load_attributes(row).items() if k != "acting_for"}
        await uow.session.execute(
            update(m.WebSession)
            .where(m.WebSession.id == row.id)
            .values(attributes=orjson.dumps(attributes).decode() if attributes else None)
        )
        await uow.commit()
