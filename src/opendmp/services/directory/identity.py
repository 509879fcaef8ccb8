"""What authentication needs from the database: first-sight registration of professionals,
the public keys establishments sign their staff assertions with, and the replay register of
those assertions.

The auth layer sits above the services and never touches storage itself (docs/architecture.md §3).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opendmp.audit.vocabulary import AuditAction
from opendmp.audit.writer import NewEvent, append
from opendmp.domain.actors import Actor, CardKind, Professional
from opendmp.domain.errors import Conflict, InvalidInput, NotFound
from opendmp.domain.identifiers import parse_struct_idnat
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory.professionals import ensure_organization, ensure_professional
from opendmp.storage import models as m

# Members of a private JWK: a registered key must be public only.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ALLOWED_KTY = frozenset({"EC", "RSA"})


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What the directory says of a professional: the facts a credential may leave out."""

    profession: str | None
    specialty: str | None
    card_kind: str


def as_the_directory_knows(actor: Professional, entry: DirectoryEntry | None) -> Professional:
    """The actor as OpenDMP treats it (docs/security.md, "Facts from credentials").

    A credential may assert the profession and specialty (its issuer vouches for them) but
    leaving one out must never widen what it may read: an omitted specialty is the
    directory's for the same profession (a specialty's row of the access matrix may refuse
    what the profession's allows); an omitted profession stays omitted (it reads nothing).
    An IdNat the directory knows as an establishment employee's (CPE) stays a CPE whatever
    the credential says: CPE never read.
    """
    if entry is None:
        return actor
    if entry.card_kind == CardKind.CPE.value and actor.card_kind is not CardKind.CPE:
        actor = replace(actor, card_kind=CardKind.CPE)
    if (
        actor.specialty is None
        and actor.profession is not None
        and actor.profession == entry.profession
        and entry.specialty
    ):
        actor = replace(actor, specialty=entry.specialty)
    return actor


async def link_member(
    session: AsyncSession, professional_id: uuid.UUID, organization_id: uuid.UUID
) -> None:
    """Record that a professional acts for a structure (a trusted credential said so).

    Learnt links are not care-team memberships (``care_team`` false: only the directory
    grants that); they only make blocks on that structure hold (``facts.blocks_against``).
    An existing link is left as it is.
    """
    if await session.get(m.Membership, (professional_id, organization_id)) is None:
        session.add(
            m.Membership(
                professional_id=professional_id, organization_id=organization_id, care_team=False
            )
        )
        await session.flush()


async def register_seen_professional(
    ctx: ServiceContext, actor: Professional
) -> DirectoryEntry | None:
    """Register a professional (and their structure) met through a trusted credential, and
    link them to the structure it names; return what the directory knows of them (None
    when two first requests raced and this one lost).

    The directory row is created from the first credential and never overwritten by a
    later one; the structure a credential names is remembered for good (for blocks)."""
    async with ctx.uow() as uow:
        now = ctx.now()
        try:
            row = await ensure_professional(uow.session, actor, now=now)
            entry = DirectoryEntry(row.profession, row.specialty, row.card_kind)
            if actor.organization:
                org = await ensure_organization(uow.session, actor.organization, name=None, now=now)
                await link_member(uow.session, row.id, org.id)
            await uow.commit()
        except IntegrityError:
            # Two first requests of one professional on two nodes: the other one won.
            await uow.rollback()
            return None
    return entry


@dataclass(frozen=True, slots=True)
class EstablishmentKeyView:
    struct_idnat: str
    kid: str
    public_jwk: dict[str, Any]
    registered_at: dt.datetime


def _public_jwk(jwk: Mapping[str, Any]) -> dict[str, Any]:
    if jwk.get("kty") not in _ALLOWED_KTY:
        raise InvalidInput(
            "an establishment key must be an EC (P-256) or RSA public JWK", code="invalid-jwk"
        )
    if _PRIVATE_MEMBERS & set(jwk):
        raise InvalidInput(
            "this JWK holds a private key: register the public key only", code="invalid-jwk"
        )
    return dict(jwk)


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    # RFC 7638 members, used as kid when the JWK carries none.
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    try:
        members = {name: jwk[name] for name in required}
    except KeyError as missing:
        raise InvalidInput(f"JWK lacks member {missing}", code="invalid-jwk") from None
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]


async def register_establishment_key(
    ctx: ServiceContext,
    *,
    actor: Actor,
    struct_idnat: str,
    public_jwk: Mapping[str, Any],
    certificate_sha256: str | None = None,
) -> EstablishmentKeyView:
    """Register a public key an establishment's software signs its assertions with."""
    structure = parse_struct_idnat(struct_idnat)
    jwk = _public_jwk(public_jwk)
    kid = str(jwk.get("kid") or _thumbprint(jwk))
    jwk["kid"] = kid
    now = ctx.now()
    async with ctx.uow() as uow:
        await ensure_organization(uow.session, structure.idnat, name=None, now=now)
        try:
            await uow.session.execute(
                insert(m.EstablishmentKey).values(
                    id=uuid.uuid4(),
                    struct_idnat=structure.idnat,
                    kid=kid,
                    public_jwk=json.dumps(jwk, sort_keys=True),
                    certificate_sha256=certificate_sha256,
                    registered_at=now,
                )
            )
        except IntegrityError:
            raise Conflict(
                f"key {kid} is already registered for {structure.idnat}", code="key-exists"
            ) from None
        await append(
            uow.session,
            NewEvent(
                action=AuditAction.ESTABLISHMENT_KEY_REGISTER,
                actor=actor,
                time=now,
                details={"struct_idnat": structure.idnat, "kid": kid},
            ),
        )
        await uow.commit()
    return EstablishmentKeyView(structure.idnat, kid, jwk, now)


async def revoke_establishment_key(
    ctx: ServiceContext, *, actor: Actor, struct_idnat: str, kid: str
) -> None:
    """Revoke a key: assertions it signs are refused from now on."""
    now = ctx.now()
    async with ctx.uow() as uow:
        result = await uow.session.execute(
            update(m.EstablishmentKey)
            .where(
                m.EstablishmentKey.struct_idnat == struct_idnat,
                m.EstablishmentKey.kid == kid,
                m.EstablishmentKey.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise NotFound(f"no active key {kid} for {struct_idnat}", code="key-not-found")
        await append(
            uow.session,
            NewEvent(
                action=AuditAction.ESTABLISHMENT_KEY_REVOKE,
                actor=actor,
                time=now,
                details={"struct_idnat": struct_idnat, "kid": kid},
            ),
        )
        await uow.commit()


async def establishment_keys(ctx: ServiceContext, struct_idnat: str) -> list[EstablishmentKeyView]:
    """The establishment's keys that are not revoked."""
    async with ctx.uow() as uow:
        rows = (
            await uow.session.execute(
                select(m.EstablishmentKey).where(
                    m.EstablishmentKey.struct_idnat == struct_idnat,
                    m.EstablishmentKey.revoked_at.is_(None),
                )
            )
        ).scalars()
        return [
            EstablishmentKeyView(r.struct_idnat, r.kid, json.loads(r.public_jwk), r.registered_at)
            for r in rows
        ]


async def _burn(ctx: ServiceContext, table: type[m.SeenAssertion | m.SeenVihf], **row: Any) -> bool:
    """Insert a replay-register row; False when its key is already there."""
    now = ctx.now()
    async with ctx.uow() as uow:
        # Expired entries can never match a valid assertion again: purge as we go.
        await uow.session.execute(delete(table).where(table.expires_at < now))
        try:
            await uow.session.execute(insert(table).values(**row))
            await uow.commit()
        except IntegrityError:
            return False
    return True


def _digest(issuer: str, identifier: str) -> str:
    return hashlib.sha256(f"{issuer}\x00{identifier}".encode()).hexdigest()


async def remember_assertion(
    ctx: ServiceContext, *, issuer: str, jti: str, expires_at: dt.datetime
) -> bool:
    """Record an assertion's ``jti`` until it expires; False when it was already seen.

    The primary key is a digest of issuer and jti: jti values are only unique per issuer,
    and their length is the sender's choice.
    """
    key = _digest(issuer, jti)
    return await _burn(ctx, m.SeenAssertion, jti=key, issuer=issuer[:128], expires_at=expires_at)


async def remember_vihf(
    ctx: ServiceContext, *, structure: str, assertion_id: str, expires_at: dt.datetime
) -> bool:
    """Record a VIHF's assertion ID until it expires; False when it was already seen."""
    key = _digest(structure, assertion_id)
    return await _burn(ctx, m.SeenVihf, digest=key, structure=structure, expires_at=expires_at)


async def professional_as_known(ctx: ServiceContext, actor: Professional) -> Professional:
    """First-sight registration, then the actor as the directory knows it: what the FHIR
    API does for a token or an assertion (``auth.dependencies.Authenticator``, uncached)."""
    return as_the_directory_knows(actor, await register_seen_professional(ctx, actor))
