"""Professionals and organisations: registered on first sight from trusted attributes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.domain.actors import Professional
from opendmp.storage import models as m


async def ensure_organization(
    session: AsyncSession,
    struct_idnat: str,
    *,
    name: str | None,
    now: dt.datetime,
    facility_type: str | None = None,
) -> m.Organization:
    org = (
        await session.execute(
            select(m.Organization).where(m.Organization.struct_idnat == struct_idnat)
        )
    ).scalar_one_or_none()
    if org is None:
        org = m.Organization(
            id=uuid.uuid4(),
            struct_idnat=struct_idnat,
            name=name or struct_idnat,
            facility_type=facility_type,
            created_at=now,
        )
        session.add(org)
        await session.flush()
    return org


async def ensure_professional(
    session: AsyncSession, actor: Professional, *, now: dt.datetime
) -> m.Professional:
    """Find the professional by IdNat_PS, registering them from the credential if new."""
    row = (
        await session.execute(select(m.Professional).where(m.Professional.idnat == actor.idnat))
    ).scalar_one_or_none()
    if row is None:
        family, _, given = (actor.name or actor.idnat).partition(" ")
        row = m.Professional(
            id=uuid.uuid4(),
            idnat=actor.idnat,
            profession=actor.profession,
            specialty=actor.specialty,
            card_kind=actor.card_kind.value,
            family_name=family,
            given_name=given,
            created_at=now,
        )
        session.add(row)
        await session.flush()
    return row
