"""Patient portal accounts: credentials, sign-in with password + TOTP, password reset.

docs/rules.md §2: credentials are issued when the record is created (printed at the desk: a
one-time password that must be changed at the first sign-in). docs/architecture.md §9: the portal
asks for login + password + TOTP. Every use case is audited on the record's chain
(``auth:account:*``, ``auth:session:*``); a refused sign-in on a known login is audited as
denied on that record's chain, an unknown login on the system chain.

argon2 work (~220 ms) never runs while a database transaction is open: state is read in
one short transaction, the hash is checked in a thread, and the outcome is written in a
second transaction that re-checks the hash has not changed in between. On SQLite, where
every transaction holds the write lock, this keeps sign-ins from stalling every writer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import Outcome
from opendmp.domain.actors import Actor, ActorKind
from opendmp.domain.errors import (
    AccessDenied,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    OpenDMPError,
)
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action, Facts
from opendmp.services.accounts import passwords
from opendmp.services.accounts.password_reset import request_password_reset, reset_password
from opendmp.services.accounts.ratelimit import enforce_address_and_login
from opendmp.services.accounts.second_factor import confirm_totp, start_totp_enrolment, verify_totp
from opendmp.services.accounts.sessions import Stage, open_session
from opendmp.services.accounts.state import (
    ACCOUNTS,
    MINUTE,
    Credentials,
    Found,
    LoginResult,
    TotpEnrolment,
    check_totp,
    count_failure,
    find_account,
    invalid,
    lock_delay,
    locked,
    promote,
    refuse,
    reissue_credentials,
    require_stage,
    session_account,
    set_password,
)
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit, require
from opendmp.services.core.records import get_record
from opendmp.storage import models as m
from opendmp.storage.uow import UnitOfWork

_DESK_KINDS = frozenset({ActorKind.OPERATOR, ActorKind.PROFESSIONAL})

__all__ = [
    "Credentials",
    "LoginResult",
    "TotpEnrolment",
    "change_password",
    "confirm_totp",
    "create_account",
    "issue_credentials",
    "lock_delay",
    "login",
    "request_password_reset",
    "reset_password",
    "start_totp_enrolment",
    "verify_totp",
]


async def _unused_login(session: AsyncSession) -> str:
    # 32^10 ≈ 10^15 logins: a collision is improbable, but a unique constraint would turn
    # one into a failed record creation, so draw again instead.
    for _ in range(8):
        login = passwords.new_login()
        taken = (
            await session.execute(select(m.Account.id).where(m.Account.login == login))
        ).first()
        if taken is None:
            return login
    raise Conflict("could not draw an unused login", code="login-exhausted")


async def create_account(
    ctx: ServiceContext,
    session_or_uow: AsyncSession | UnitOfWork,
    *,
    record_id: uuid.UUID,
    now: dt.datetime,
    actor: Actor = ACCOUNTS,
) -> Credentials:
    """Create the patient's account in the caller's transaction (e.g. ``create_record``'s).

    Returns the login and the one-time password to print on the welcome letter; only the
    password's argon2id hash is kept, and it must be changed at the first sign-in.
    """
    session = session_or_uow.session if isinstance(session_or_uow, UnitOfWork) else session_or_uow
    login = await _unused_login(session)
    one_time = passwords.new_one_time_password()
    account_id = uuid.uuid4()
    session.add(
        m.Account(
            id=account_id,
            record_id=record_id,
            login=login,
            password_hash=await passwords.hash_password(one_time),
            totp_secret_encrypted=None,
            totp_last_step=None,
            must_change_password=True,
            password_expires_at=now + ctx.auth.one_time_password_validity,
            failed_attempts=0,
            locked_until=None,
            created_at=now,
        )
    )
    await session.flush()
    await audit(
        ctx,
        session,
        actor=actor,
        action=AuditAction.ACCOUNT_CREATE,
        record_id=record_id,
        details={"account": str(account_id)},
    )
    return Credentials(login, one_time)


async def issue_credentials(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> Credentials:
    """(Re)issue a one-time password for an existing record, at a desk or by an operator.

    The patient is present and identified, which is why this also clears the second
    factor (a patient who lost their password often lost their phone too), the lock, and
    every open session. The login is kept: it is already on the patient's letter.
    """
    now = ctx.now()
    async with ctx.uow() as uow:
        _patient, record = await get_record(uow.session, ins, for_update=True)
        record_id = record.id
        if actor.kind not in _DESK_KINDS:
            # Patients use the password reset: a stolen session must not clear the TOTP.
            await uow.rollback()
            await audit(
                ctx,
                uow,
                actor=actor,
                action=AuditAction.ACCOUNT_ISSUE_CREDENTIALS,
                record_id=record_id,
                outcome=Outcome.DENIED,
                reason="actor-not-permitted",
            )
            await uow.commit()
            raise AccessDenied("you may not do this", code="actor-not-permitted")
        # Whoever may open a record for the person may hand them its credentials (§2).
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.CREATE_RECORD,
            facts=Facts(record_status=None),
            audit_action=AuditAction.ACCOUNT_ISSUE_CREDENTIALS,
            record_id=record.id,
        )
        account = (
            await uow.session.execute(
                select(m.Account)
                .where(
                    m.Account.record_id == record.id,
                    ~exists().where(
                        m.Representative.record_id == record.id,
                        m.Representative.account_id == m.Account.id,
                    ),
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if account is None:
            credentials = await create_account(ctx, uow, record_id=record.id, now=now, actor=actor)
            await uow.commit()
            return credentials
        reissued = await reissue_credentials(ctx, uow.session, account, now)
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.ACCOUNT_ISSUE_CREDENTIALS,
            record_id=record.id,
            details={
                "totp_cleared": reissued.totp_cleared,
                "sessions_ended": reissued.sessions_ended,
            },
        )
        await uow.commit()
        return reissued.credentials


# --- sign-in ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SignIn:
    """One sign-in attempt: what its refusals and its success are audited with."""

    ctx: ServiceContext
    action: AuditAction
    now: dt.datetime
    client_address: str | None

    async def refuse(
        self,
        uow: UnitOfWork,
        error: OpenDMPError,
        found: Found | None,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> NoReturn:
        await refuse(
            self.ctx,
            uow,
            error,
            action=self.action,
            found=found,
            client_address=self.client_address,
            reason=reason,
            details=details,
        )


async def _enforce_login_rates(attempt: _SignIn, name: str) -> None:
    await enforce_address_and_login(
        attempt.ctx,
        "login",
        client_address=attempt.client_address,
        login=name,
        login_limit=attempt.ctx.auth.login_rate_per_account,
        login_window=MINUTE,
    )


def _lock(account: m.Account, now: dt.datetime) -> OpenDMPError | None:
    if account.locked_until is not None and now < account.locked_until:
        return locked(account.locked_until, now)
    return None


def _expiry(account: m.Account, now: dt.datetime) -> OpenDMPError | None:
    if (
        account.must_change_password
        and account.password_expires_at is not None
        and now >= account.password_expires_at
    ):
        return AuthenticationFailed(
            "this one-time password has expired: ask for new credentials",
            code="password-expired",
        )
    return None


async def _signed_in(
    attempt: _SignIn, uow: UnitOfWork, current: Found | None, *, ok: bool, seen_hash: str | None
) -> Found:
    """The account whose password was right and unchanged meanwhile, neither locked nor
    expired; any other case is refused (audited, committed, raised)."""
    if current is None or not ok or current.account.password_hash != seen_hash:
        details: dict[str, Any] | None = None
        if current is not None:
            failures = await count_failure(uow.session, current.account.id, attempt.now)
            details = {"failures": failures}
        await attempt.refuse(uow, invalid(), current, details=details)
    error = _lock(current.account, attempt.now)
    if error is None:
        error = _expiry(current.account, attempt.now)
    if error is not None:
        await attempt.refuse(uow, error, current)
    return current


async def _stage(attempt: _SignIn, uow: UnitOfWork, current: Found, totp_code: str | None) -> Stage:
    account = current.account
    if account.must_change_password:
        return Stage.PASSWORD_CHANGE
    if account.totp_secret_encrypted is None:
        return Stage.TOTP_ENROLMENT
    if totp_code is None:
        return Stage.TOTP
    reason = await check_totp(attempt.ctx, uow.session, current, totp_code, attempt.now)
    if reason is not None:
        failures = await count_failure(uow.session, account.id, attempt.now)
        await attempt.refuse(uow, invalid(), current, reason=reason, details={"failures": failures})
    return Stage.FULL


async def _open_login_session(
    attempt: _SignIn, uow: UnitOfWork, current: Found, stage: Stage, rehashed: str | None
) -> tuple[str, str]:
    """Reset the failures (unless half signed in), store a rehash, open the session, audit."""
    account = current.account
    values: dict[str, Any] = {}
    if stage is not Stage.TOTP:
        # A right password without its code proves only half: the count of failures
        # goes on, or alternating password-only sign-ins would allow endless TOTP guesses.
        values.update(failed_attempts=0, locked_until=None)
    if rehashed is not None:
        values["password_hash"] = rehashed
    if values:
        await uow.session.execute(
            update(m.Account).where(m.Account.id == account.id).values(values)
        )
    token, csrf = await open_session(
        attempt.ctx,
        uow.session,
        account=account,
        stage=stage,
        now=attempt.now,
        client_address=attempt.client_address,
    )
    await audit(
        attempt.ctx,
        uow,
        actor=current.actor,
        action=attempt.action,
        record_id=account.record_id,
        client_address=attempt.client_address,
        details={"stage": stage.value},
    )
    return token, csrf


async def login(
    ctx: ServiceContext,
    *,
    login: str,
    password: str,
    totp_code: str | None = None,
    client_address: str | None = None,
) -> LoginResult:
    """Sign in. The session's stage says what the patient may do next:

    ``password-change`` (one-time password used), ``totp-enrolment`` (no second factor
    yet), ``totp`` (password right, no code given: call :func:`verify_totp`), ``full``.

    Refusals: ``rate-limited`` / ``account-locked`` (429, ``retry_after``),
    ``invalid-credentials`` (unknown login, wrong password or wrong/replayed TOTP code —
    one code, so that a guesser learns nothing), ``password-expired``.
    """
    now = ctx.now()
    name = passwords.normalize_login(login)
    action = AuditAction.SESSION_LOGIN
    attempt = _SignIn(ctx, action, now, client_address)
    await _enforce_login_rates(attempt, name)
    async with ctx.uow() as uow:
        found = await find_account(uow.session, name)
    seen_hash = found.account.password_hash if found else None
    lock = _lock(found.account, now) if found is not None else None
    if lock is not None:
        async with ctx.uow() as uow:
            await attempt.refuse(uow, lock, found)
    ok = await passwords.verify_password(seen_hash, password)
    rehashed = (
        await passwords.hash_password(password)
        if ok and seen_hash is not None and passwords.needs_rehash(seen_hash)
        else None
    )
    async with ctx.uow() as uow:
        current = await find_account(uow.session, name, for_update=True) if found else None
        current = await _signed_in(attempt, uow, current, ok=ok, seen_hash=seen_hash)
        stage = await _stage(attempt, uow, current, totp_code)
        token, csrf = await _open_login_session(attempt, uow, current, stage, rehashed)
        await uow.commit()
    return LoginResult(stage, token, csrf)


async def change_password(
    ctx: ServiceContext, *, session_token: str, old: str, new: str
) -> LoginResult:
    """Change the password (forced after a one-time password). Ends every session of the
    account and returns the new one: ``totp-enrolment`` if no second factor yet."""
    now = ctx.now()
    action = AuditAction.ACCOUNT_CHANGE_PASSWORD
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.PASSWORD_CHANGE, Stage.FULL)
    seen_hash = found.account.password_hash
    if not await passwords.verify_password(seen_hash, old):
        async with ctx.uow() as uow:
            failures = await count_failure(uow.session, found.account.id, now)
            await refuse(
                ctx,
                uow,
                invalid(),
                action=action,
                found=found,
                client_address=row.client_address,
                details={"failures": failures},
            )
    try:
        passwords.check_new_password(new, login=found.account.login, old=old)
    except InvalidInput as weak:
        async with ctx.uow() as uow:
            await refuse(ctx, uow, weak, action=action, found=found)
    new_hash = await passwords.hash_password(new)
    async with ctx.uow() as uow:
        row, current = await session_account(ctx, uow, session_token, now)
        if current.account.password_hash != seen_hash:
            raise Conflict("the password changed meanwhile", code="password-changed")
        account = current.account
        if Stage(row.stage) is Stage.FULL:
            stage = Stage.FULL
        elif account.totp_secret_encrypted is None:
            stage = Stage.TOTP_ENROLMENT
        else:
            stage = Stage.TOTP
        ended = await set_password(uow.session, account.id, new_hash, now)
        result = await promote(ctx, uow, row, current, stage, now)
        await audit(
            ctx,
            uow,
            actor=current.actor,
            action=action,
            record_id=account.record_id,
            details={"stage": stage.value, "sessions_ended": ended},
        )
        await uow.commit()
    return result


# --- second factor ----------------------------------------------------------------------------
