"""One-time codes sent by e-mail (online creation's address proof, password reset, e-mail
change): issued one live code per purpose and subject at a time, stored as a keyed hash
(``passwords.hash_code``), found again only while unused, unexpired and under its attempts.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.blobs import MasterKey
from opendmp.services.accounts import passwords
from opendmp.storage import models as m


async def issue_code(
    session: AsyncSession,
    master_key: MasterKey,
    *,
    purpose: str,
    subject: str,
    validity: dt.timedelta,
    now: dt.datetime,
) -> tuple[uuid.UUID, str]:
    """A new code for ``subject``; the previous live ones of that purpose are spent. Returns
    its id and the code in clear (to send, never to store)."""
    await session.execute(
        update(m.OneTimeCode)
        .where(
            m.OneTimeCode.purpose == purpose,
            m.OneTimeCode.subject == subject,
            m.OneTimeCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    code_id, code = uuid.uuid4(), passwords.new_reset_code()
    session.add(
        m.OneTimeCode(
            id=code_id,
            purpose=purpose,
            subject=subject,
            code_hash=passwords.hash_code(master_key, str(code_id), code),
            attempts=0,
            created_at=now,
            expires_at=now + validity,
            used_at=None,
        )
    )
    await session.flush()
    return code_id, code


async def live_code(
    session: AsyncSession,
    *,
    purpose: str,
    subject: str,
    now: dt.datetime,
    max_attempts: int,
    code_id: uuid.UUID | None = None,
) -> m.OneTimeCode | None:
    """The subject's live code of that purpose (that id when given, else the newest), locked
    for the check; ``None`` when there is none."""
    query = select(m.OneTimeCode).where(
        m.OneTimeCode.purpose == purpose,
        m.OneTimeCode.subject == subject,
        m.OneTimeCode.used_at.is_(None),
        m.OneTimeCode.expires_at > now,
        m.OneTimeCode.attempts < max_attempts,
    )
    if code_id is not None:
        query = query.where(m.OneTimeCode.id == code_id)
    newest = query.order_by(m.OneTimeCode.created_at.desc()).limit(1).with_for_update()
    found: m.OneTimeCode | None = (await session.execute(newest)).scalar_one_or_none()
    return found
