"""Server-side portal sessions (table ``web_session``) and their CSRF tokens.

The cookie carries 32 random bytes; only their SHA-256 is stored, so a database dump gives
no usable session. A session dies after ``session_idle`` without use or ``session_absolute``
after sign-in, whichever comes first, or when revoked (logout, password change).

A session has a *stage*: only ``full`` sessions act on the record; the others can only
finish signing in (change the one-time password, enrol or type a TOTP code).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Caregiver, LegalRepresentative, Patient
from opendmp.domain.delegations import Kind, Right, Status, live_rights, load_rights
from opendmp.domain.errors import AccessDenied, AuthenticationFailed
from opendmp.domain.local_time import paris_date
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.storage import models as m

TOKEN_BYTES = 32
# last_seen_at is written at most once a minute: a write per page view would serialise
# every portal request on SQLite for an idle timeout precise to the second.
TOUCH_EVERY = dt.timedelta(seconds=60)


class Stage(StrEnum):
    PASSWORD_CHANGE = "password-change"  # noqa: S105 (signed in with the one-time password)
    TOTP_ENROLMENT = "totp-enrolment"  # password set, no second factor yet
    TOTP = "totp"  # password right, TOTP code still to type
    FULL = "full"


Holder = Patient | LegalRepresentative | Caregiver


@dataclass(frozen=True, slots=True)
class ActingFor:
    """The delegation a session switched to (docs/rules.md §3.7), kept in its attributes and
    checked on every request: revoked, expired or removed, the session is its own again."""

    delegation_id: uuid.UUID
    record_id: uuid.UUID
    kind: Kind
    patient_ins: str
    name: str | None
    representative_id: uuid.UUID | None = None
    relation: str | None = None
    rights: frozenset[Right] = frozenset()  # a caregiver's, live (shown; the policy decides)
    patient_name: str = ""  # whom they act for, as the banner names them

    def as_attribute(self) -> dict[str, str]:
        return {
            "delegation": str(self.delegation_id),
            "record": str(self.record_id),
            "kind": self.kind.value,
            "patient_ins": self.patient_ins,
            "name": self.name or "",
            "patient_name": self.patient_name,
        }


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: uuid.UUID
    account_id: uuid.UUID
    record_id: uuid.UUID
    login: str
    stage: Stage
    # A representative's account acts as one; a person who switched to a record they hold a
    # delegation for acts as its caregiver or representative (``ActingFor``).
    actor: Holder
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    csrf_secret: str = field(repr=False)
    acting_for: ActingFor | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _csrf(secret: str, session_id: uuid.UUID) -> str:
    return hmac.new(bytes.fromhex(secret), b"csrf:" + session_id.bytes, hashlib.sha256).hexdigest()


def csrf_token_for(session: SessionInfo) -> str:
    """The session's CSRF token: an HMAC of its id under its own secret."""
    return _csrf(session.csrf_secret, session.session_id)


def check_csrf(session: SessionInfo, token: str | None) -> bool:
    """Constant-time check; another session's token never matches (other secret, other id)."""
    if not token:
        return False
    return hmac.compare_digest(csrf_token_for(session).encode(), token.encode())


async def open_session(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    account: m.Account,
    stage: Stage,
    now: dt.datetime,
    client_address: str | None,
    attributes: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Insert a session in the caller's transaction; returns ``(token, csrf_token)``."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = m.WebSession(
        id=uuid.uuid4(),
        token_hash=token_hash(token),
        subject_kind="patient",
        subject_id=str(account.id),
        account_id=account.id,
        attributes=_dump(attributes),
        csrf_secret=secrets.token_hex(32),
        stage=stage.value,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ctx.auth.session_absolute,
        revoked_at=None,
        client_address=(client_address or None) and client_address[:64],
    )
    session.add(row)
    await session.flush()
    return token, _csrf(row.csrf_secret, row.id)


def _dump(attributes: dict[str, Any] | None) -> str | None:
    return orjson.dumps(attributes).decode() if attributes else None


def load_attributes(row: m.WebSession) -> dict[str, Any]:
    loaded = orjson.loads(row.attributes) if row.attributes else {}
    return loaded if isinstance(loaded, dict) else {}


def _alive(row: m.WebSession, ctx: ServiceContext, now: dt.datetime) -> bool:
    return (
        row.revoked_at is None
        and now < row.expires_at
        and now - row.last_seen_at < ctx.auth.session_idle
    )


@dataclass(frozen=True, slots=True)
class _Holder:
    """Whose account a session belongs to: the record's patient, or a representative."""

    ins: str
    representative_id: uuid.UUID | None
    relation: str | None
    account_id: uuid.UUID | None = None
    acting_for: ActingFor | None = None

    @property
    def actor(self) -> Holder:
        acting = self.acting_for
        if acting is not None and acting.kind is Kind.REPRESENTATIVE:
            return LegalRepresentative(
                representative_id=str(acting.representative_id),
                patient_ins=acting.patient_ins,
                relation=acting.relation or "",
                name=acting.name,
            )
        if acting is not None:
            return Caregiver(
                caregiver_ins=self.ins,
                patient_ins=acting.patient_ins,
                delegation_id=str(acting.delegation_id),
                account_id=str(self.account_id),
                name=acting.name,
            )
        if self.representative_id is None:
            return Patient(ins=self.ins)
        return LegalRepresentative(
            representative_id=str(self.representative_id),
            patient_ins=self.ins,
            relation=self.relation or "",
        )


async def load_session(
    ctx: ServiceContext,
    session: AsyncSession,
    token: str,
    now: dt.datetime,
    *,
    for_update: bool = False,
) -> tuple[m.WebSession, m.Account, _Holder] | None:
    """The live session of ``token`` with its account and its holder, or None."""
    if not token:
        return None
    query = (
        select(
            m.WebSession,
            m.Account,
            m.Patient.ins_oid,
            m.Patient.ins_value,
            m.Representative.id,
            m.Representative.relation,
        )
        .join(m.Account, m.Account.id == m.WebSession.account_id)
        .join(m.Record, m.Record.id == m.Account.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .outerjoin(
            m.Representative,
            (m.Representative.account_id == m.Account.id)
            & (m.Representative.record_id == m.Account.record_id),
        )
        .where(m.WebSession.token_hash == token_hash(token))
    )
    if for_update:
        query = query.with_for_update(of=[m.WebSession, m.Account])
    row = (await session.execute(query)).first()
    if row is None:
        return None
    # Snapshots that outlive the transaction; changes go through UPDATE statements.
    session.expunge(row[0])
    session.expunge(row[1])
    if not _alive(row[0], ctx, now):
        return None
    holder = _Holder(f"{row[2]}|{row[3]}", row[4], row[5], account_id=row[1].id)
    if row[4] is None:  # only a person's own account acts for others
        acting = await _acting_for(session, load_attributes(row[0]), row[1].id, now)
        holder = replace(holder, acting_for=acting)
    return row[0], row[1], holder


async def _still_representative(
    session: AsyncSession, record_id: uuid.UUID, representative_id: uuid.UUID | None
) -> bool:
    """The representative an accepted invitation added is still on the record (the patient's
    side may have removed them directly)."""
    if representative_id is None:
        return False
    found = await session.execute(
        select(m.Representative.id).where(
            m.Representative.record_id == record_id, m.Representative.id == representative_id
        )
    )
    return found.first() is not None


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _acting_for(
    session: AsyncSession, attributes: dict[str, Any], account_id: uuid.UUID, now: dt.datetime
) -> ActingFor | None:
    """The delegation the session switched to, if it is still live for this account."""
    wanted = attributes.get("acting_for")
    if not isinstance(wanted, dict):
        return None
    delegation_id, record_id = _uuid(wanted.get("delegation")), _uuid(wanted.get("record"))
    if delegation_id is None or record_id is None:
        return None
    d = m.Delegation
    found = (
        await session.execute(
            select(
                d.kind,
                d.status,
                d.rights,
                d.starts_on,
                d.ends_on,
                d.representative_id,
                d.relation,
                d.caregiver_name,
            )
            .where(d.record_id == record_id, d.id == delegation_id)
            .where(d.caregiver_account_id == account_id)
        )
    ).first()
    if found is None:
        return None
    kind = Kind(found.kind)
    live: frozenset[Right] = frozenset()
    if kind is Kind.CAREGIVER:
        live = live_rights(
            Status(found.status),
            load_rights(found.rights),
            starts_on=found.starts_on,
            ends_on=found.ends_on,
            today=paris_date(now),
        )
        if not live:
            return None
    elif found.status != Status.ACCEPTED.value or not await _still_representative(
        session, record_id, found.representative_id
    ):
        return None
    return ActingFor(
        delegation_id=delegation_id,
        record_id=record_id,
        kind=kind,
        patient_ins=str(wanted.get("patient_ins", "")),
        name=found.caregiver_name,
        representative_id=found.representative_id,
        relation=found.relation,
        rights=live,
        patient_name=str(wanted.get("patient_name", "")),
    )


def _info(row: m.WebSession, account: m.Account, holder: _Holder) -> SessionInfo:
    return SessionInfo(
        session_id=row.id,
        account_id=account.id,
        record_id=account.record_id,
        login=account.login,
        stage=Stage(row.stage),
        actor=holder.actor,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        csrf_secret=row.csrf_secret,
        acting_for=holder.acting_for,
    )


async def resolve_session(
    ctx: ServiceContext, token: str, now: dt.datetime | None = None
) -> SessionInfo | None:
    """The session behind a cookie value, or None if unknown, expired or revoked.

    Touches ``last_seen_at`` (at most once a minute), which pushes the idle deadline back.
    """
    now = now or ctx.now()
    async with ctx.uow() as uow:
        found = await load_session(ctx, uow.session, token, now)
        if found is None:
            return None
        row, account, holder = found
        if now - row.last_seen_at >= TOUCH_EVERY:
            await uow.session.execute(
                update(m.WebSession).where(m.WebSession.id == row.id).values(last_seen_at=now)
            )
            row.last_seen_at = now
            await uow.commit()
        return _info(row, account, holder)


_STAGE_REQUIRED = {
    Stage.PASSWORD_CHANGE: "password-change-required",
    Stage.TOTP_ENROLMENT: "totp-enrolment-required",
    Stage.TOTP: "totp-required",
}


async def require_patient(ctx: ServiceContext, *, session_token: str) -> Holder:
    """The acting patient (or legal representative) of a *full* session; a partial session
    may do nothing else.

    Refusals: ``not-signed-in`` (401) without a live session, ``<stage>-required`` (403)
    while the sign-in is unfinished.
    """
    info = await resolve_session(ctx, session_token)
    if info is None:
        raise AuthenticationFailed("please sign in", code="not-signed-in")
    if info.stage is not Stage.FULL:
        raise AccessDenied("finish signing in first", code=_STAGE_REQUIRED[info.stage])
    return info.actor


async def revoke(session: AsyncSession, session_id: uuid.UUID, now: dt.datetime) -> None:
    await session.execute(
        update(m.WebSession)
        .where(m.WebSession.id == session_id, m.WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_all(
    session: AsyncSession,
    account_id: uuid.UUID,
    now: dt.datetime,
    *,
    except_session: uuid.UUID | None = None,
) -> int:
    query = update(m.WebSession).where(
        m.WebSession.account_id == account_id, m.WebSession.revoked_at.is_(None)
    )
    if except_session is not None:
        query = query.where(m.WebSession.id != except_session)
    result: Any = await session.execute(query.values(revoked_at=now))
    return int(result.rowcount or 0)


async def logout(ctx: ServiceContext, *, session_token: str) -> None:
    """End this session (an unknown or dead token is not an error: the user is out)."""
    now = ctx.now()
    async with ctx.uow() as uow:
        found = await load_session(ctx, uow.session, session_token, now)
        if found is None:
            return
        row, account, holder = found
        await revoke(uow.session, row.id, now)
        await audit(
            ctx,
            uow,
            actor=holder.actor,
            action=AuditAction.SESSION_LOGOUT,
            record_id=account.record_id,
        )
        await uow.commit()


async def logout_everywhere(ctx: ServiceContext, *, session_token: str) -> int:
    """End every session of this session's account; returns how many were ended."""
    now = ctx.now()
    async with ctx.uow() as uow:
        found = await load_session(ctx, uow.session, session_token, now)
        if found is None:
            raise AuthenticationFailed("please sign in", code="not-signed-in")
        row, account, holder = found
        if Stage(row.stage) is not Stage.FULL:
            raise AccessDenied("finish signing in first", code=_STAGE_REQUIRED[Stage(row.stage)])
        ended = await revoke_all(uow.session, account.id, now)
        await audit(
            ctx,
            uow,
            actor=holder.actor,
            action=AuditAction.SESSION_LOGOUT_EVERYWHERE,
            record_id=account.record_id,
            details={"sessions": ended},
        )
        await uow.commit()
        return ended
