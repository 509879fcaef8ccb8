"""The TOTP second factor of patient accounts: enrolment and the second sign-in step.

The secret drawn at enrolment waits, encrypted, on the session until the first code from
the patient's app proves it was scanned; only then is it stored on the account.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import update

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.errors import (
    AuthenticationFailed,
    Conflict,
)
from opendmp.services.accounts import totp
from opendmp.services.accounts.ratelimit import enforce
from opendmp.services.accounts.sessions import Stage, load_attributes
from opendmp.services.accounts.state import (
    MINUTE,
    LoginResult,
    TotpEnrolment,
    check_totp,
    count_failure,
    locked,
    promote,
    record_key,
    refuse,
    require_stage,
    session_account,
)
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.storage import models as m

# A pending secret is shown again on every visit of the enrolment page until it expires:
# a QR code scanned before a reload stays the one to confirm (docs/portals.md).
PENDING_TOTP_VALIDITY = dt.timedelta(minutes=30)


async def start_totp_enrolment(ctx: ServiceContext, *, session_token: str) -> TotpEnrolment:
    """The TOTP secret to enrol, kept encrypted on the session until :func:`confirm_totp`:
    the pending one while it is younger than ``PENDING_TOTP_VALIDITY``, else a new one."""
    now = ctx.now()
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.TOTP_ENROLMENT)
        key = record_key(ctx, found)
        attributes = load_attributes(row)
        secret = _pending_secret(
            attributes, now, lambda sealed: totp.decrypt_secret(key, found.account.id, sealed)
        )
        if secret is None:
            secret = totp.new_secret()
            sealed = totp.encrypt_secret(key, found.account.id, secret)
            attributes["pending_totp"] = base64.b64encode(sealed).decode("ascii")
            attributes["pending_totp_until"] = (now + PENDING_TOTP_VALIDITY).isoformat()
            await uow.session.execute(
                update(m.WebSession)
                .where(m.WebSession.id == row.id)
                .values(attributes=orjson.dumps(attributes).decode())
            )
            await audit(
                ctx,
                uow,
                actor=found.actor,
                action=AuditAction.ACCOUNT_START_TOTP_ENROLMENT,
                record_id=found.account.record_id,
            )
        await uow.commit()
    return TotpEnrolment(uri=totp.provisioning_uri(secret, found.account.login), secret=secret)


def _pending_secret(
    attributes: dict[str, Any], now: dt.datetime, unseal: Callable[[bytes], str]
) -> str | None:
    pending, until = attributes.get("pending_totp"), attributes.get("pending_totp_until")
    if not isinstance(pending, str) or not isinstance(until, str):
        return None
    if dt.datetime.fromisoformat(until) <= now:
        return None
    return unseal(base64.b64decode(pending))


async def confirm_totp(ctx: ServiceContext, *, session_token: str, code: str) -> LoginResult:
    """Check the first code from the patient's app, keep the secret, sign in fully."""
    now = ctx.now()
    action = AuditAction.ACCOUNT_ENROL_TOTP
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.TOTP_ENROLMENT)
        key = record_key(ctx, found)
        secret = _pending_secret(
            load_attributes(row),
            now,
            lambda sealed: totp.decrypt_secret(key, found.account.id, sealed),
        )
        if secret is None:
            raise Conflict("start the TOTP enrolment first", code="totp-enrolment-not-started")
        step = totp.matching_step(secret, code, now)
        if step is None:
            await refuse(
                ctx,
                uow,
                AuthenticationFailed("wrong code", code="invalid-totp"),
                action=action,
                found=found,
            )
        await uow.session.execute(
            update(m.Account)
            .where(m.Account.id == found.account.id)
            .values(
                totp_secret_encrypted=totp.encrypt_secret(key, found.account.id, secret),
                totp_last_step=step,
            )
        )
        result = await promote(ctx, uow, row, found, Stage.FULL, now)
        await audit(ctx, uow, actor=found.actor, action=action, record_id=found.account.record_id)
        await uow.commit()
    return result


async def verify_totp(ctx: ServiceContext, *, session_token: str, code: str) -> LoginResult:
    """Second step of sign-in: a ``totp`` session plus a right, unused code → ``full``.

    A wrong code counts as a failed sign-in (lockout) and shares the login's rate limit.
    """
    now = ctx.now()
    action = AuditAction.SESSION_VERIFY_TOTP
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.TOTP)
    await enforce(
        ctx,
        f"login:login:{found.account.login}",
        limit=ctx.auth.login_rate_per_account,
        window=MINUTE,
        now=now,
    )
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.TOTP)
        account = found.account
        if account.locked_until is not None and now < account.locked_until:
            await refuse(ctx, uow, locked(account.locked_until, now), action=action, found=found)
        reason = await check_totp(ctx, uow.session, found, code, now)
        if reason is not None:
            failures = await count_failure(uow.session, account.id, now)
            await refuse(
                ctx,
                uow,
                AuthenticationFailed("wrong or already used code", code="invalid-totp"),
                action=action,
                found=found,
                client_address=row.client_address,
                reason=reason,
                details={"failures": failures},
            )
        await uow.session.execute(
            update(m.Account)
            .where(m.Account.id == account.id)
            .values(failed_attempts=0, locked_until=None)
        )
        result = await promote(ctx, uow, row, found, Stage.FULL, now)
        await audit(
            ctx,
            uow,
            actor=found.actor,
            action=action,
            record_id=account.record_id,
            client_address=row.client_address,
        )
        await uow.commit()
    return result


# --- password reset by e-mail -----------------------------------------------------------------
