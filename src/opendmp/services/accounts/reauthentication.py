"""Asking a signed-in patient for their password again before an irreversible act (closing
the DMP: docs/rules.md §2, "password asked again").

A wrong password counts as a failed sign-in (the same lockout as ``accounts.login``): a
stolen session must not become a password oracle. argon2 runs outside any transaction, as
in ``accounts``.
"""

from __future__ import annotations

from sqlalchemy import update

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import LegalRepresentative, Patient
from opendmp.domain.errors import AuthenticationFailed
from opendmp.services.accounts import passwords
from opendmp.services.accounts.sessions import Stage
from opendmp.services.accounts.state import (
    count_failure,
    locked,
    refuse,
    require_stage,
    session_account,
)
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.storage import models as m


async def confirm_password(
    ctx: ServiceContext, *, session_token: str, password: str
) -> Patient | LegalRepresentative:
    """The acting patient of this *full* session if ``password`` is theirs.

    Refusals: ``not-signed-in``, ``<stage>-required`` (unfinished sign-in),
    ``account-locked`` (429, ``retry_after``), ``invalid-password`` (401, counted).
    """
    now = ctx.now()
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.FULL)
        until = found.account.locked_until
        if until is not None and now < until:
            await refuse(
                ctx,
                uow,
                locked(until, now),
                action=AuditAction.ACCOUNT_CONFIRM_PASSWORD,
                found=found,
            )
    seen_hash = found.account.password_hash
    if not await passwords.verify_password(seen_hash, password):
        async with ctx.uow() as uow:
            failures = await count_failure(uow.session, found.account.id, now)
            await refuse(
                ctx,
                uow,
                AuthenticationFailed("wrong password", code="invalid-password"),
                action=AuditAction.ACCOUNT_CONFIRM_PASSWORD,
                found=found,
                details={"failures": failures},
            )
    async with ctx.uow() as uow:
        await uow.session.execute(
            update(m.Account).where(m.Account.id == found.account.id).values(failed_attempts=0)
        )
        await audit(
            ctx,
            uow,
            actor=found.actor,
            action=AuditAction.ACCOUNT_CONFIRM_PASSWORD,
            record_id=found.account.record_id,
        )
        await uow.commit()
    return found.actor
