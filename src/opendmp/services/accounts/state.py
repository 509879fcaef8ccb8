"""What the account use cases share: the account snapshot, refusals, failure counting,
TOTP checks and session promotion. The use cases are in ``accounts``, ``second_factor``
and ``password_reset``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import Outcome
from opendmp.domain.actors import LegalRepresentative, Patient, System
from opendmp.domain.errors import (
    AccessDenied,
    AccountLocked,
    AuthenticationFailed,
    OpenDMPError,
)
from opendmp.services.accounts import passwords, totp
from opendmp.services.accounts.sessions import Stage, load_session, open_session, revoke, revoke_all
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.services.core.keys import SealedDataKey, open_data_key, require_key
from opendmp.storage import models as m
from opendmp.storage.uow import UnitOfWork

LOCK_AFTER_FAILURES = 5
MAX_LOCK = dt.timedelta(hours=24)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)

# Who is audited for an attempt on a login that does not exist.
ANONYMOUS = Patient(ins="anonymous")
ACCOUNTS = System("accounts")


class Credentials(NamedTuple):
    login: str
    one_time_password: str

    def __repr__(self) -> str:
        return f"Credentials(login={self.login!r}, one_time_password=<hidden>)"


@dataclass(frozen=True, slots=True)
class LoginResult:
    stage: Stage
    session_token: str = field(repr=False)
    csrf_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What the portal shows as a QR code (``uri``) and as text (``secret``)."""

    uri: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Found:
    account: m.Account
    ins: str
    email: str | None
    sealed_key: SealedDataKey | None
    language: str
    # Set when the account is a legal representative's (``representative.account_id``).
    representative_id: uuid.UUID | None = None
    relation: str | None = None

    @property
    def actor(self) -> Patient | LegalRepresentative:
        return account_actor(self.ins, self.representative_id, self.relation)


def record_key(ctx: ServiceContext, found: Found) -> bytes:
    """The data key of the account's record (it seals the account's TOTP secret)."""
    return open_data_key(ctx, require_key(found.sealed_key))


def account_actor(
    ins: str, representative_id: uuid.UUID | None, relation: str | None
) -> Patient | LegalRepresentative:
    """Who signs in with an account: the patient, or the legal representative it belongs to."""
    if representative_id is None:
        return Patient(ins=ins)
    return LegalRepresentative(
        representative_id=str(representative_id), patient_ins=ins, relation=relation or ""
    )


def lock_delay(failures: int) -> dt.timedelta | None:
    """2^(failures-5) minutes from the 5th consecutive failure on, at most 24 h."""
    if failures < LOCK_AFTER_FAILURES:
        return None
    exponent = min(failures - LOCK_AFTER_FAILURES, 11)  # 2^11 min > 24 h already
    return min(dt.timedelta(minutes=2**exponent), MAX_LOCK)


def retry_after(until: dt.datetime, now: dt.datetime) -> int:
    return max(1, int((until - now).total_seconds() + 0.999))


async def find_account(
    session: AsyncSession, login: str, *, for_update: bool = False
) -> Found | None:
    """An account by login: the patient's, or a legal representative's of the record (then
    :attr:`Found.actor` is that :class:`LegalRepresentative` and the e-mail is theirs)."""
    query = (
        select(
            m.Account,
            m.Patient.ins_oid,
            m.Patient.ins_value,
            m.Patient.email,
            m.Record.wrapped_data_key,
            m.Record.preferred_language,
            m.Representative.id,
            m.Representative.relation,
            m.Representative.email,
            m.Record.kek_epoch,
            m.Record.master_key_id,
        )
        .join(m.Record, m.Record.id == m.Account.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .outerjoin(
            m.Representative,
            (m.Representative.account_id == m.Account.id)
            & (m.Representative.record_id == m.Account.record_id),
        )
        .where(m.Account.login == login)
    )
    if for_update:
        query = query.with_for_update(of=m.Account)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    # A snapshot: it outlives its (short) transaction; changes go through UPDATE statements.
    session.expunge(row[0])
    rep_id = row[6]
    email = row[8] if rep_id is not None else row[3]
    sealed = SealedDataKey(row[4], row[9], row[10]) if row[4] is not None else None
    return Found(row[0], f"{row[1]}|{row[2]}", email, sealed, row[5], rep_id, row[7])


async def refuse(
    ctx: ServiceContext,
    uow: UnitOfWork,
    error: OpenDMPError,
    *,
    action: AuditAction,
    found: Found | None,
    client_address: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> NoReturn:
    """Audit a refusal (with whatever the uow already holds), commit it, raise ``error``."""
    await trace_refusal(
        ctx,
        uow,
        action=action,
        found=found,
        reason=reason or error.code,
        client_address=client_address,
        details=details,
    )
    raise error


async def trace_refusal(
    ctx: ServiceContext,
    uow: UnitOfWork,
    *,
    action: AuditAction,
    found: Found | None,
    reason: str,
    client_address: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit a refusal the caller answers without an error (e.g. the same answer for an
    unknown login), and commit it."""
    await audit(
        ctx,
        uow,
        actor=found.actor if found else ANONYMOUS,
        action=action,
        record_id=found.account.record_id if found else None,
        outcome=Outcome.DENIED,
        reason=reason,
        client_address=client_address,
        details=details,
    )
    await uow.commit()


async def count_failure(session: AsyncSession, account_id: uuid.UUID, now: dt.datetime) -> int:
    """One more consecutive failure; locks the account from the 5th on. Atomic increment."""
    failures = int(
        (
            await session.execute(
                update(m.Account)
                .where(m.Account.id == account_id)
                .values(failed_attempts=m.Account.failed_attempts + 1)
                .returning(m.Account.failed_attempts)
            )
        ).scalar_one()
    )
    delay = lock_delay(failures)
    if delay is not None:
        await session.execute(
            update(m.Account).where(m.Account.id == account_id).values(locked_until=now + delay)
        )
    return failures


async def consume_step(session: AsyncSession, account_id: uuid.UUID, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) was: a TOTP code works once."""
    result: Any = await session.execute(
        update(m.Account)
        .where(
            m.Account.id == account_id,
            (m.Account.totp_last_step.is_(None)) | (m.Account.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return int(result.rowcount or 0) == 1


def invalid() -> AuthenticationFailed:
    return AuthenticationFailed("wrong login or password", code="invalid-credentials")


def locked(until: dt.datetime, now: dt.datetime) -> AccountLocked:
    retry = retry_after(until, now)
    return AccountLocked(f"too many failed sign-ins: try again in {retry} s", retry_after=retry)


# --- credentials ------------------------------------------------------------------------------


async def check_totp(
    ctx: ServiceContext, session: AsyncSession, found: Found, code: str, now: dt.datetime
) -> str | None:
    """None if ``code`` is right and unused (and now used), else the refusal reason."""
    sealed = found.account.totp_secret_encrypted
    if sealed is None:
        return "totp-not-enrolled"
    secret = totp.decrypt_secret(record_key(ctx, found), found.account.id, sealed)
    step = totp.matching_step(secret, code, now)
    if step is None:
        return "invalid-totp"
    if not await consume_step(session, found.account.id, step):
        return "totp-replayed"
    return None


async def session_account(
    ctx: ServiceContext, uow: UnitOfWork, session_token: str, now: dt.datetime
) -> tuple[m.WebSession, Found]:
    loaded = await load_session(ctx, uow.session, session_token, now, for_update=True)
    if loaded is None:
        raise AuthenticationFailed("please sign in", code="not-signed-in")
    row, account, _ins = loaded
    found = await find_account(uow.session, account.login)
    if found is None:
        raise AuthenticationFailed("please sign in", code="not-signed-in")
    return row, found


def require_stage(row: m.WebSession, *allowed: Stage) -> None:
    stage = Stage(row.stage)
    if stage in allowed:
        return
    code = "already-signed-in" if stage is Stage.FULL else f"{stage.value}-required"
    raise AccessDenied("this is not the current step of signing in", code=code)


async def promote(
    ctx: ServiceContext,
    uow: UnitOfWork,
    row: m.WebSession,
    found: Found,
    stage: Stage,
    now: dt.datetime,
) -> LoginResult:
    """Replace a session by a new one at ``stage``: a new token whenever rights grow, so a
    token seen before (fixation) never reaches a stronger stage."""
    await revoke(uow.session, row.id, now)
    token, csrf = await open_session(
        ctx,
        uow.session,
        account=found.account,
        stage=stage,
        now=now,
        client_address=row.client_address,
    )
    return LoginResult(stage, token, csrf)


class Reissued(NamedTuple):
    credentials: Credentials
    totp_cleared: bool
    sessions_ended: int


async def reissue_credentials(
    ctx: ServiceContext, session: AsyncSession, account: m.Account, now: dt.datetime
) -> Reissued:
    """New credentials on an existing account: a one-time password to change at the next
    sign-in, the second factor cleared, the lock lifted, every session ended."""
    one_time = passwords.new_one_time_password()
    account.password_hash = await passwords.hash_password(one_time)
    account.must_change_password = True
    account.password_expires_at = now + ctx.auth.one_time_password_validity
    account.failed_attempts = 0
    account.locked_until = None
    had_totp = account.totp_secret_encrypted is not None
    account.totp_secret_encrypted = None
    account.totp_last_step = None
    ended = await revoke_all(session, account.id, now)
    return Reissued(Credentials(account.login, one_time), had_totp, ended)


async def set_password(
    session: AsyncSession, account_id: uuid.UUID, password_hash: str, now: dt.datetime
) -> int:
    """The account's new (chosen) password, the lock lifted; every session ended, since
    whoever knew the old one may hold one. Returns the number of sessions ended."""
    await session.execute(
        update(m.Account)
        .where(m.Account.id == account_id)
        .values(
            password_hash=password_hash,
            must_change_password=False,
            password_expires_at=None,
            failed_attempts=0,
            locked_until=None,
        )
    )
    return await revoke_all(session, account_id, now)
