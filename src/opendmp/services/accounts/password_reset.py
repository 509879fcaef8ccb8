"""Password reset by an e-mailed one-time code (8 digits, 15 minutes, 5 tries)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.errors import (
    AuthenticationFailed,
    InvalidInput,
)
from opendmp.services.accounts import passwords
from opendmp.services.accounts.one_time_codes import issue_code, live_code
from opendmp.services.accounts.ratelimit import enforce, enforce_address_and_login
from opendmp.services.accounts.state import (
    HOUR,
    MINUTE,
    find_account,
    refuse,
    set_password,
    trace_refusal,
)
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.services.core.notifications import enqueue_notification
from opendmp.storage import models as m

RESET_CODE_VALIDITY = dt.timedelta(minutes=15)
RESET_CODE_MAX_ATTEMPTS = 5
RESET_PURPOSE = "password-reset"


async def request_password_reset(
    ctx: ServiceContext, *, login: str, client_address: str | None = None
) -> None:
    """E-mail an 8-digit code, valid 15 minutes, to the patient's address.

    Answers the same (nothing) whether the login exists or not. The message carries the
    code only: no name, no INS, nothing about the record.
    """
    now = ctx.now()
    name = passwords.normalize_login(login)
    action = AuditAction.ACCOUNT_REQUEST_PASSWORD_RESET
    await enforce_address_and_login(
        ctx,
        "reset",
        client_address=client_address,
        login=name,
        login_limit=ctx.auth.password_reset_rate,
        login_window=HOUR,
    )
    async with ctx.uow() as uow:
        found = await find_account(uow.session, name, for_update=True)
        if found is None or not found.email:
            # The same answer for an unknown login and for one without an e-mail address.
            await trace_refusal(
                ctx,
                uow,
                action=action,
                found=found,
                reason="unknown-login" if found is None else "no-email",
                client_address=client_address,
            )
            return
        subject = str(found.account.id)
        # One live code at a time: a new request kills the previous ones.
        _, code = await issue_code(
            uow.session,
            ctx.master_key,
            purpose=RESET_PURPOSE,
            subject=subject,
            validity=RESET_CODE_VALIDITY,
            now=now,
        )
        await enqueue_notification(
            uow.session,
            record_id=found.account.record_id,
            kind="password-reset",
            recipient=found.email,
            payload={"code": code, "at": now.isoformat()},
            now=now,
            language=found.language,
        )
        await audit(
            ctx,
            uow,
            actor=found.actor,
            action=action,
            record_id=found.account.record_id,
            client_address=client_address,
        )
        await uow.commit()


async def _live_code(
    session: AsyncSession, account_id: uuid.UUID, now: dt.datetime
) -> m.OneTimeCode | None:
    return await live_code(
        session,
        purpose=RESET_PURPOSE,
        subject=str(account_id),
        now=now,
        max_attempts=RESET_CODE_MAX_ATTEMPTS,
    )


async def reset_password(
    ctx: ServiceContext,
    *,
    login: str,
    code: str,
    new_password: str,
    client_address: str | None = None,
) -> None:
    """Set a new password with an e-mailed code (5 tries per code). The TOTP stays: an
    e-mail box alone never opens the record. Ends every session and unlocks the account."""
    now = ctx.now()
    name = passwords.normalize_login(login)
    action = AuditAction.ACCOUNT_RESET_PASSWORD
    refusal = AuthenticationFailed(
        "this code is wrong, expired or already used", code="invalid-reset-code"
    )
    if client_address:
        await enforce(
            ctx,
            f"reset:addr:{client_address}",
            limit=ctx.auth.login_rate_per_address,
            window=MINUTE,
            now=now,
        )
    async with ctx.uow() as uow:
        found = await find_account(uow.session, name)
        live = await _live_code(uow.session, found.account.id, now) if found else None
        if found is None or live is None:
            await refuse(
                ctx, uow, refusal, action=action, found=found, client_address=client_address
            )
        if not passwords.code_matches(ctx.master_key, str(live.id), code.strip(), live.code_hash):
            live.attempts += 1
            if live.attempts >= RESET_CODE_MAX_ATTEMPTS:
                live.used_at = now  # dead: a new code must be asked for
            await refuse(
                ctx,
                uow,
                refusal,
                action=action,
                found=found,
                client_address=client_address,
                details={"attempts": live.attempts},
            )
        code_id, seen_hash = live.id, found.account.password_hash
    try:
        passwords.check_new_password(new_password, login=found.account.login)
        if await passwords.verify_password(seen_hash, new_password):
            raise InvalidInput(
                "the new password must be: different from the current password",
                code="weak-password",
            )
    except InvalidInput as weak:
        async with ctx.uow() as uow:
            await refuse(ctx, uow, weak, action=action, found=found)
    new_hash = await passwords.hash_password(new_password)
    async with ctx.uow() as uow:
        current = await find_account(uow.session, name, for_update=True)
        live = await _live_code(uow.session, found.account.id, now)
        if current is None or live is None or live.id != code_id:
            await refuse(
                ctx, uow, refusal, action=action, found=current, client_address=client_address
            )
        live.used_at = now
        ended = await set_password(uow.session, current.account.id, new_hash, now)
        await audit(
            ctx,
            uow,
            actor=current.actor,
            action=action,
            record_id=current.account.record_id,
            client_address=client_address,
            details={"sessions_ended": ended},
        )
        await uow.commit()
