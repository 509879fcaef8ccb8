"""Portal sessions that belong to no patient account: signed-in staff (desk agents and
professionals) and the anonymous online-creation journey. Table ``web_session``.

Like patient sessions (``services.sessions``): the cookie carries 32 random bytes and only
their SHA-256 is stored; idle and absolute timeouts come from ``ctx.auth``. The session's
``attributes`` JSON holds the actor (``subject_kind = "professional"``) or the journey's
state (``"onboarding"``), plus short-lived items the portal keeps between two requests
(e.g. the identity the desk verified, the sealed welcome letter).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import CardKind, Professional
from opendmp.domain.errors import AuthenticationFailed
from opendmp.services.accounts.sessions import TOKEN_BYTES, TOUCH_EVERY, token_hash
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit
from opendmp.storage import models as m

PROFESSIONAL = "professional"
ONBOARDING = "onboarding"
# The online journey is short: an e-mailed code, a form. An hour is plenty.
ONBOARDING_LIFETIME = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class WebSessionInfo:
    session_id: uuid.UUID
    subject_kind: str
    attributes: dict[str, Any]
    created_at: dt.datetime
    csrf_secret: str = field(repr=False)

    @property
    def actor(self) -> Professional | None:
        raw = self.attributes.get("actor")
        return professional_from_json(raw) if isinstance(raw, dict) else None


def professional_json(actor: Professional) -> dict[str, Any]:
    return {
        "idnat": actor.idnat,
        "profession": actor.profession,
        "specialty": actor.specialty,
        "organization": actor.organization,
        "card_kind": actor.card_kind.value,
        "name": actor.name,
    }


def professional_from_json(raw: dict[str, Any]) -> Professional:
    return Professional(
        idnat=str(raw["idnat"]),
        profession=raw.get("profession"),
        specialty=raw.get("specialty"),
        organization=raw.get("organization"),
        card_kind=CardKind(raw.get("card_kind") or "CPS"),
        name=raw.get("name"),
    )


def _load(row: m.WebSession) -> dict[str, Any]:
    loaded = orjson.loads(row.attributes) if row.attributes else {}
    return loaded if isinstance(loaded, dict) else {}


def _alive(ctx: ServiceContext, row: m.WebSession, now: dt.datetime) -> bool:
    return (
        row.revoked_at is None
        and now < row.expires_at
        and now - row.last_seen_at < ctx.auth.session_idle
    )


async def _open(
    ctx: ServiceContext,
    *,
    kind: str,
    subject_id: str,
    attributes: dict[str, Any],
    lifetime: dt.timedelta,
    client_address: str | None,
) -> tuple[str, uuid.UUID]:
    now = ctx.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session_id = uuid.uuid4()
    async with ctx.uow() as uow:
        uow.session.add(
            m.WebSession(
                id=session_id,
                token_hash=token_hash(token),
                subject_kind=kind,
                subject_id=subject_id[:128],
                account_id=None,
                attributes=orjson.dumps(attributes).decode(),
                csrf_secret=secrets.token_hex(32),
                stage="full",
                created_at=now,
                last_seen_at=now,
                expires_at=now + lifetime,
                revoked_at=None,
                client_address=(client_address or None) and client_address[:64],
            )
        )
        if kind == PROFESSIONAL:
            actor = professional_from_json(attributes["actor"])
            await audit(
                ctx,
                uow,
                actor=actor,
                action=AuditAction.SESSION_LOGIN,
                record_id=None,
                client_address=client_address,
                details={"portal": "web", "method": str(attributes.get("method", ""))},
            )
        await uow.commit()
    return token, session_id


async def open_staff_session(
    ctx: ServiceContext, *, actor: Professional, method: str, client_address: str | None
) -> str:
    """Sign a professional or desk agent in to the portals; returns the cookie token."""
    token, _ = await _open(
        ctx,
        kind=PROFESSIONAL,
        subject_id=actor.idnat,
        attributes={"actor": professional_json(actor), "method": method},
        lifetime=ctx.auth.session_absolute,
        client_address=client_address,
    )
    return token


async def open_onboarding_session(
    ctx: ServiceContext, *, attributes: dict[str, Any], client_address: str | None
) -> str:
    token, _ = await _open(
        ctx,
        kind=ONBOARDING,
        subject_id="anonymous",
        attributes=attributes,
        lifetime=ONBOARDING_LIFETIME,
        client_address=client_address,
    )
    return token


async def resolve_web_session(
    ctx: ServiceContext, token: str | None, *, kind: str
) -> WebSessionInfo | None:
    """The live session of this kind behind a cookie value, or None."""
    if not token:
        return None
    now = ctx.now()
    async with ctx.uow() as uow:
        row = (
            await uow.session.execute(
                select(m.WebSession).where(
                    m.WebSession.token_hash == token_hash(token),
                    m.WebSession.subject_kind == kind,
                )
            )
        ).scalar_one_or_none()
        if row is None or not _alive(ctx, row, now):
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
            await uow.commit()
        return WebSessionInfo(row.id, row.subject_kind, _load(row), row.created_at, row.csrf_secret)


async def update_attributes(
    ctx: ServiceContext,
    session_id: uuid.UUID,
    *,
    set_items: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
) -> None:
    """Change some attributes of a live session (row locked: no lost update)."""
    async with ctx.uow() as uow:
        row = (
            await uow.session.execute(
                select(m.WebSession).where(m.WebSession.id == session_id).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None or not _alive(ctx, row, ctx.now()):
            raise AuthenticationFailed("please sign in", code="not-signed-in")
        attributes = _load(row)
        for key in remove:
            attributes.pop(key, None)
        attributes.update(set_items or {})
        row.attributes = orjson.dumps(attributes).decode()
        await uow.commit()


async def take_attribute(ctx: ServiceContext, session_id: uuid.UUID, key: str) -> Any:
    """Remove ``key`` from the session and return its value (None if absent): whoever
    takes it first gets it, a second request finds nothing."""
    async with ctx.uow() as uow:
        row = (
            await uow.session.execute(
                select(m.WebSession).where(m.WebSession.id == session_id).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None or not _alive(ctx, row, ctx.now()):
            return None
        attributes = _load(row)
        value = attributes.pop(key, None)
        if value is not None:
            row.attributes = orjson.dumps(attributes).decode()
            await uow.commit()
        return value


async def end_web_session(ctx: ServiceContext, token: str | None) -> None:
    """Revoke the session (sign-out, end of the journey). Unknown tokens are ignored."""
    if not token:
        return
    now = ctx.now()
    async with ctx.uow() as uow:
        await uow.session.execute(
            update(m.WebSession)
            .where(m.WebSession.token_hash == token_hash(token), m.WebSession.revoked_at.is_(None))
            .values(revoked_at=now, attributes=None)
        )
        await uow.commit()


# --- CSRF for forms without a patient session ---------------------------------------------


def _csrf_key(ctx: ServiceContext) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"opendmp web csrf").derive(
        ctx.master_key.raw
    )


def csrf_token(ctx: ServiceContext, nonce: str, binding: str) -> str:
    """Signed double-submit token: HMAC over the cookie's nonce and the session it is bound
    to (a session id, or ``""`` before sign-in). A token made for one nonce or session is
    worthless with another, and nobody without the master key can make one."""
    message = f"csrf:{nonce}:{binding}".encode()
    return hmac.new(_csrf_key(ctx), message, hashlib.sha256).hexdigest()


def csrf_valid(ctx: ServiceContext, nonce: str | None, binding: str, token: str | None) -> bool:
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(ctx, nonce, binding).encode(), token.encode())
