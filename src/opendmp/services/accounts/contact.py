"""A patient account's e-mail address (docs/portals.md, "Mon compte"): a reminder of the
login, sent to the address the account holds (the same answer whether any account has it:
no enumeration), and a change of address, proven by an 8-digit code sent to the new one
(15 minutes, 5 tries; the address waits on the session until then); once changed, the old
address is told, with what to do if it was not its holder.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.errors import AuthenticationFailed, Conflict, InvalidInput
from opendmp.services.accounts import passwords
from opendmp.services.accounts.one_time_codes import issue_code, live_code
from opendmp.services.accounts.ratelimit import enforce
from opendmp.services.accounts.sessions import Stage, load_attributes
from opendmp.services.accounts.state import (
    HOUR,
    Found,
    account_actor,
    require_stage,
    session_account,
)
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.services.core.notifications import enqueue_notification
from opendmp.storage import models as m

EMAIL_CHANGE = "email-change"
EMAIL_CHANGED = "email-changed"
EMAIL_CHANGE_VALIDITY = dt.timedelta(minutes=15)
EMAIL_CHANGE_MAX_ATTEMPTS = 5
REMINDERS_PER_ADDRESS_PER_HOUR = 3
_PENDING = "pending_email"


def normalise_email(email: str) -> str:
    """The address as typed, its domain lower-cased; ``invalid-email`` if it is not one."""
    text = email.strip()
    if not text or len(text) > 254 or "@" not in text or any(c.isspace() for c in text):
        raise InvalidInput("the e-mail address is not valid", code="invalid-email")
    local, _, domain = text.rpartition("@")
    if not local or "." not in domain:
        raise InvalidInput("the e-mail address is not valid", code="invalid-email")
    return f"{local}@{domain.lower()}"


# --- forgotten login ------------------------------------------------------------------------


async def request_login_reminder(
    ctx: ServiceContext, *, email: str, client_address: str | None = None
) -> None:
    """E-mail the login of every account holding ``email`` to that address; nothing, and
    the same answer, when none does."""
    now = ctx.now()
    address = normalise_email(email)
    if client_address:
        await enforce(ctx, f"login-reminder:addr:{client_address}", limit=10, window=HOUR, now=now)
    await enforce(
        ctx,
        f"login-reminder:email:{address.lower()}",
        limit=REMINDERS_PER_ADDRESS_PER_HOUR,
        window=HOUR,
        now=now,
    )
    async with ctx.uow() as uow:
        for row in await _accounts_with(uow.session, address):
            _account_id, login, record_id, language, ins, rep_id, relation, stored = row
            await enqueue_notification(
                uow.session,
                record_id=record_id,
                kind="login-reminder",
                recipient=stored,
                payload={"login": login, "at": now.isoformat()},
                now=now,
                language=language,
            )
            await audit(
                ctx,
                uow,
                actor=account_actor(ins, rep_id, relation),
                action=AuditAction.ACCOUNT_REQUEST_LOGIN_REMINDER,
                record_id=record_id,
                client_address=client_address,
            )
        await uow.commit()


async def _accounts_with(session: AsyncSession, address: str) -> list[Any]:
    """(account id, login, record id, language, INS, representative id, relation, address)
    of the accounts whose holder's address is ``address`` (case-insensitive)."""
    wanted = address.lower()
    query = (
        select(
            m.Account.id,
            m.Account.login,
            m.Account.record_id,
            m.Record.preferred_language,
            m.Patient.ins_oid + "|" + m.Patient.ins_value,
            m.Representative.id,
            m.Representative.relation,
            func.coalesce(m.Representative.email, m.Patient.email),
        )
        .join(m.Record, m.Record.id == m.Account.record_id)
        .join(m.Patient, m.Patient.id == m.Record.patient_id)
        .outerjoin(
            m.Representative,
            (m.Representative.account_id == m.Account.id)
            & (m.Representative.record_id == m.Account.record_id),
        )
        .where(
            or_(
                m.Representative.id.is_(None) & (func.lower(m.Patient.email) == wanted),
                func.lower(m.Representative.email) == wanted,
            )
        )
        .order_by(m.Account.login)
    )
    return list((await session.execute(query)).all())


# --- change of address ----------------------------------------------------------------------


async def request_email_change(
    ctx: ServiceContext, *, session_token: str, email: str, client_address: str | None = None
) -> None:
    """Send a code to the new address; the address waits on the session until
    :func:`confirm_email_change` (a new request replaces it and kills the previous code)."""
    now = ctx.now()
    address = normalise_email(email)
    await enforce(ctx, f"email-change:email:{address.lower()}", limit=5, window=HOUR, now=now)
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.FULL)
        subject = str(found.account.id)
        code_id, code = await issue_code(
            uow.session,
            ctx.master_key,
            purpose=EMAIL_CHANGE,
            subject=subject,
            validity=EMAIL_CHANGE_VALIDITY,
            now=now,
        )
        attributes = load_attributes(row)
        attributes[_PENDING] = {"address": address, "code_id": str(code_id)}
        await _save_attributes(uow.session, row, attributes)
        await uow.session.flush()
        await enqueue_notification(
            uow.session,
            record_id=found.account.record_id,
            kind=EMAIL_CHANGE,
            recipient=address,
            payload={"code": code, "at": now.isoformat()},
            now=now,
            language=found.language,
        )
        await audit(
            ctx,
            uow,
            actor=found.actor,
            action=AuditAction.ACCOUNT_REQUEST_EMAIL_CHANGE,
            record_id=found.account.record_id,
            client_address=client_address,
        )
        await uow.commit()


async def email_addresses(
    ctx: ServiceContext, *, session_token: str
) -> tuple[str | None, str | None]:
    """The account's address, and the new one waiting for its code on this session."""
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, ctx.now())
        pending = load_attributes(row).get(_PENDING)
        await uow.commit()
    return found.email, str(pending["address"]) if isinstance(pending, dict) else None


async def confirm_email_change(
    ctx: ServiceContext, *, session_token: str, code: str, client_address: str | None = None
) -> str:
    """Check the code sent to the new address and make it the account's; returns it.
    ``invalid-email-code`` (401) when wrong, used or expired."""
    now = ctx.now()
    async with ctx.uow() as uow:
        row, found = await session_account(ctx, uow, session_token, now)
        require_stage(row, Stage.FULL)
        attributes = load_attributes(row)
        pending = attributes.get(_PENDING)
        if not isinstance(pending, dict):
            raise Conflict("ask for a code first", code="email-change-not-started")
        live = await _live_code(uow.session, pending, str(found.account.id), now)
        if live is None or not passwords.code_matches(
            ctx.master_key, str(live.id), code.strip(), live.code_hash
        ):
            if live is not None:
                live.attempts += 1
                if live.attempts >= EMAIL_CHANGE_MAX_ATTEMPTS:
                    live.used_at = now
                await uow.commit()
            raise AuthenticationFailed(
                "this code is wrong, expired or already used", code="invalid-email-code"
            )
        live.used_at = now
        address = str(pending["address"])
        await _store_address(uow.session, found, address)
        await _tell_the_old_address(uow.session, found, address, now)
        del attributes[_PENDING]
        await _save_attributes(uow.session, row, attributes)
        await audit(
            ctx,
            uow,
            actor=found.actor,
            action=AuditAction.ACCOUNT_CHANGE_EMAIL,
            record_id=found.account.record_id,
            client_address=client_address,
        )
        await uow.commit()
    return address


async def _live_code(
    session: AsyncSession, pending: dict[str, object], subject: str, now: dt.datetime
) -> m.OneTimeCode | None:
    try:
        code_id = uuid.UUID(str(pending.get("code_id")))
    except ValueError:
        return None
    return await live_code(
        session,
        purpose=EMAIL_CHANGE,
        subject=subject,
        now=now,
        max_attempts=EMAIL_CHANGE_MAX_ATTEMPTS,
        code_id=code_id,
    )


async def _tell_the_old_address(
    session: AsyncSession, found: Found, address: str, now: dt.datetime
) -> None:
    """The address the account held is told of the change and what to do if its holder did
    not make it (the new one only proved it is reachable); nothing when there was none, or
    when only its case changed."""
    old = found.email
    if not old or old.lower() == address.lower():
        return
    await enqueue_notification(
        session,
        record_id=found.account.record_id,
        kind=EMAIL_CHANGED,
        recipient=old,
        payload={"at": now.isoformat()},
        now=now,
        language=found.language,
    )


async def _store_address(session: AsyncSession, found: Found, address: str) -> None:
    if found.representative_id is not None:
        await session.execute(
            update(m.Representative)
            .where(m.Representative.id == found.representative_id)
            .values(email=address)
        )
        return
    patient_id = (
        select(m.Record.patient_id).where(m.Record.id == found.account.record_id).scalar_subquery()
    )
    await session.execute(update(m.Patient).where(m.Patient.id == patient_id).values(email=address))


async def _save_attributes(
    session: AsyncSession, row: m.WebSession, attributes: dict[str, object]
) -> None:
    await session.execute(
        update(m.WebSession)
        .where(m.WebSession.id == row.id)
        .values(attributes=orjson.dumps(attributes).decode())
    )
