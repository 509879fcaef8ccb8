"""Opening a DMP from the portals: the existence test, the e-mail proof of the online
journey, online creation with a chosen password, and the desk's one-time welcome letter.

The record itself is always created by ``records.create_record`` (consent, audit,
account); this module adds what the two journeys need around it.

Welcome letter, shown once (docs/rules.md §2, docs/architecture.md §9): ``create_record``
returns the login
and one-time password exactly once. The desk seals them at once — AES-256-GCM under a key
derived from the master key, bound to the desk agent's session id — into that session's
attributes, with a 15-minute expiry. The download takes the sealed item out of the session
in one locked transaction, renders the PDF and forgets it: a second download, a download
from another session, or one after expiry finds nothing. Neither the database (without
the master key) nor the desk's screen ever shows the password.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import exists, update

from opendmp.audit.vocabulary import AuditAction
from opendmp.cda.pdf import make_pdf
from opendmp.domain.actors import Actor, Patient
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind, require_express_consent
from opendmp.domain.errors import AuthenticationFailed, Conflict, Gone, InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.local_time import french_stamp, paris_date
from opendmp.domain.policy import Action, Facts
from opendmp.domain.records import RecordStatus
from opendmp.services.accounts import passwords
from opendmp.services.accounts.contact import normalise_email
from opendmp.services.accounts.one_time_codes import issue_code, live_code
from opendmp.services.accounts.ratelimit import enforce
from opendmp.services.accounts.web_sessions import take_attribute, update_attributes
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.gate import audit, require
from opendmp.services.core.notifications import enqueue_notification
from opendmp.services.core.records import is_subject
from opendmp.services.records.identity_registry import ReferenceIdentity
from opendmp.services.records.lifecycle import (
    EmergencyChoices,
    NewRecord,
    RecordView,
    create_record,
)
from opendmp.services.records.notice import current_notice
from opendmp.storage import models as m
from opendmp.storage.repositories import find_record

ADULT_AGE = 18
EMAIL_PROOF = "email-proof"
EMAIL_CODE_VALIDITY = dt.timedelta(minutes=15)
EMAIL_CODE_MAX_ATTEMPTS = 5
EMAIL_CODES_PER_HOUR = 3
LETTER_VALIDITY = dt.timedelta(minutes=15)
LETTER_KEY = "welcome_letter"
HOUR = dt.timedelta(hours=1)


# --- existence test (TD0.2) --------------------------------------------------------------


async def check_existence(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> RecordStatus | None:
    """The record's status for this INS (None: no record). Audited on the record's chain."""
    async with ctx.uow() as uow:
        found = await find_record(uow.session, ins)
        status = RecordStatus(found[1].status) if found else None
        record_id = found[1].id if found else None
        await require(
            ctx,
            uow,
            actor=actor,
            action=Action.CHECK_EXISTENCE,
            facts=Facts(record_status=status, is_subject=is_subject(actor, ins)),
            audit_action=AuditAction.RECORD_CHECK_EXISTENCE,
            record_id=record_id,
        )
        if record_id is not None:
            await audit(
                ctx,
                uow,
                actor=actor,
                action=AuditAction.RECORD_CHECK_EXISTENCE,
                record_id=record_id,
            )
            await uow.commit()
        return status


def age_on(birth_date: dt.date, today: dt.date) -> int:
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


def require_adult(birth_date: dt.date, today: dt.date) -> None:
    """Online creation is for adults (docs/rules.md §2); a minor's record is opened with the
    legal representatives at a desk."""
    if age_on(birth_date, today) < ADULT_AGE:
        raise InvalidInput(
            "online creation is for adults: a minor's DMP is opened with a legal "
            "representative at a desk",
            code="not-adult",
        )


# --- e-mail proof -------------------------------------------------------------------------


async def send_email_proof(
    ctx: ServiceContext, *, email: str, language: str = "fr", client_address: str | None = None
) -> uuid.UUID:
    """E-mail an 8-digit code (15 minutes, 5 tries) proving the person reads this address.

    Rate-limited per address and per e-mail; a new code kills the previous ones. The
    message holds the code only.
    """
    now = ctx.now()
    address = normalise_email(email)
    if client_address:
        await enforce(ctx, f"email-proof:addr:{client_address}", limit=10, window=HOUR, now=now)
    await enforce(
        ctx,
        f"email-proof:email:{address.lower()}",
        limit=EMAIL_CODES_PER_HOUR,
        window=HOUR,
        now=now,
    )
    async with ctx.uow() as uow:
        code_id, code = await issue_code(
            uow.session,
            ctx.master_key,
            purpose=EMAIL_PROOF,
            subject=address.lower(),
            validity=EMAIL_CODE_VALIDITY,
            now=now,
        )
        await enqueue_notification(
            uow.session,
            record_id=None,
            kind=EMAIL_PROOF,
            recipient=address,
            payload={"code": code, "at": now.isoformat()},
            now=now,
            language=language,
        )
        await uow.commit()
    return code_id


async def check_email_proof(
    ctx: ServiceContext, *, code_id: uuid.UUID, email: str, code: str
) -> None:
    """Accept the code once; ``invalid-email-code`` (401) when wrong, used or expired."""
    now = ctx.now()
    refusal = AuthenticationFailed(
        "this code is wrong, expired or already used: ask for a new one",
        code="invalid-email-code",
    )
    async with ctx.uow() as uow:
        live = await live_code(
            uow.session,
            purpose=EMAIL_PROOF,
            subject=normalise_email(email).lower(),
            now=now,
            max_attempts=EMAIL_CODE_MAX_ATTEMPTS,
            code_id=code_id,
        )
        if live is None:
            raise refusal
        if not passwords.code_matches(ctx.master_key, str(live.id), code.strip(), live.code_hash):
            live.attempts += 1
            if live.attempts >= EMAIL_CODE_MAX_ATTEMPTS:
                live.used_at = now
            await uow.commit()
            raise refusal
        live.used_at = now
        await uow.commit()


# --- online creation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnlineRequest:
    identity: ReferenceIdentity  # verified against the registry by the caller
    email: str  # proven by a code
    password: str
    notice_version: str  # the notice the person was shown
    consent_confirmed: bool
    mobile: str | None = None
    emergency: EmergencyChoices = field(default_factory=EmergencyChoices)
    client_address: str | None = None


async def create_record_online(ctx: ServiceContext, request: OnlineRequest) -> RecordView:
    """An adult opens their own DMP: express consent (channel ONLINE, captured by the
    person themself), then the password they chose replaces the generated one.

    Every check that can fail runs before the record exists: a weak password must not
    leave a record behind whose one-time password nobody has seen.
    """
    now = ctx.now()
    identity = request.identity
    require_adult(identity.birth_date, paris_date(now))
    notice = current_notice()
    if request.notice_version != notice.version:
        raise Conflict(
            "the information notice changed meanwhile: read it again", code="notice-changed"
        )
    passwords.check_new_password(request.password, login="")
    actor = Patient(
        ins=str(identity.ins), name=f"{identity.birth_name} {' '.join(identity.given_names)}"
    )
    consent = Consent(
        kind=ConsentKind.CREATION,
        channel=ConsentChannel.ONLINE,
        captured_by_kind=actor.kind.value,
        captured_by_id=actor.actor_id,
        captured_by_name=actor.name,
        place="online",
        notice_version=notice.version,
        notice_sha256=notice.sha256,
        captured_at=now,
        patient_confirmed=request.consent_confirmed,
    )
    require_express_consent(consent)
    new_hash = await passwords.hash_password(request.password)
    view = await create_record(
        ctx,
        actor=actor,
        request=NewRecord(
            ins=identity.ins,
            birth_name=identity.birth_name,
            given_names=identity.given_names,
            birth_date=identity.birth_date,
            sex=identity.sex,
            birth_place_code=identity.birth_place_code,
            consent=consent,
            email=normalise_email(request.email),
            mobile=request.mobile or None,
            emergency=request.emergency,
        ),
    )
    await set_chosen_password(ctx, actor=actor, record_id=view.record_id, password_hash=new_hash)
    return view


async def set_chosen_password(
    ctx: ServiceContext, *, actor: Actor, record_id: uuid.UUID, password_hash: str
) -> None:
    """Replace the generated one-time password of the record's own account by the one the
    person chose (already checked and hashed). The TOTP is enrolled at first sign-in."""
    async with ctx.uow() as uow:
        result: Any = await uow.session.execute(
            update(m.Account)
            .where(
                m.Account.record_id == record_id,
                ~exists().where(
                    m.Representative.record_id == record_id,
                    m.Representative.account_id == m.Account.id,
                ),
            )
            .values(
                password_hash=password_hash,
                must_change_password=False,
                password_expires_at=None,
            )
        )
        if int(result.rowcount or 0) != 1:
            raise Conflict("the record has no account of its own", code="account-missing")
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.ACCOUNT_SET_PASSWORD,
            record_id=record_id,
            details={"channel": "online"},
        )
        await uow.commit()


# --- the desk's welcome letter --------------------------------------------------------------


def _letter_key(ctx: ServiceContext) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"opendmp welcome letter"
    ).derive(ctx.master_key.raw)
    return AESGCM(key)


def _aad(session_id: uuid.UUID, letter_id: str) -> bytes:
    return b"welcome-letter:" + session_id.bytes + letter_id.encode()


async def seal_welcome_letter(
    ctx: ServiceContext, *, session_id: uuid.UUID, view: RecordView
) -> str:
    """Keep the new credentials, encrypted, in the desk session for one download.

    Returns the letter's id (for the download form). Any earlier letter of the session is
    replaced: only the latest creation can be printed.
    """
    if view.credentials is None:
        raise Conflict("no credentials to print", code="no-credentials")
    now = ctx.now()
    letter_id = secrets.token_urlsafe(12)
    secret = orjson.dumps(
        {
            "login": view.credentials[0],
            "password": view.credentials[1],
            "name": f"{view.given_names} {view.birth_name}",
            "created_at": view.created_at.isoformat(),
        }
    )
    nonce = secrets.token_bytes(12)
    sealed = nonce + _letter_key(ctx).encrypt(nonce, secret, _aad(session_id, letter_id))
    await update_attributes(
        ctx,
        session_id,
        set_items={
            LETTER_KEY: {
                "id": letter_id,
                "record_id": str(view.record_id),
                "sealed": base64.b64encode(sealed).decode(),
                "expires_at": (now + LETTER_VALIDITY).isoformat(),
            }
        },
    )
    return letter_id


def _gone() -> Gone:
    return Gone(
        "the welcome letter can be downloaded only once, just after the creation: "
        "issue new credentials to print another",
        code="letter-already-downloaded",
    )


async def take_welcome_letter(
    ctx: ServiceContext, *, actor: Actor, session_id: uuid.UUID, letter_id: str
) -> bytes:
    """The welcome letter PDF, once; ``letter-already-downloaded`` (410) afterwards."""
    item = await take_attribute(ctx, session_id, LETTER_KEY)
    now = ctx.now()
    if not isinstance(item, dict) or item.get("id") != letter_id:
        raise _gone()
    if dt.datetime.fromisoformat(str(item["expires_at"])) <= now:
        raise _gone()
    sealed = base64.b64decode(str(item["sealed"]))
    try:
        secret = _letter_key(ctx).decrypt(sealed[:12], sealed[12:], _aad(session_id, letter_id))
    except InvalidTag:
        raise _gone() from None
    content = orjson.loads(secret)
    record_id = uuid.UUID(str(item["record_id"]))
    async with ctx.uow() as uow:
        await audit(
            ctx,
            uow,
            actor=actor,
            action=AuditAction.ACCOUNT_PRINT_WELCOME_LETTER,
            record_id=record_id,
        )
        await uow.commit()
    created_at = dt.datetime.fromisoformat(str(content["created_at"]))
    return welcome_letter_pdf(
        login=content["login"],
        password=content["password"],
        name=content["name"],
        portal_url=ctx.base_url.rstrip("/") + "/patient",
        issued_at=created_at,
        # The one-time password's clock started when the account was created.
        valid_until=created_at + ctx.auth.one_time_password_validity,
    )


def _date_fr(when: dt.datetime) -> str:
    """The Paris day: a record created at 23:30 UTC in winter was created the next day."""
    return f"{paris_date(when):%d/%m/%Y}"


def welcome_letter_pdf(
    *,
    login: str,
    password: str,
    name: str,
    portal_url: str,
    issued_at: dt.datetime,
    valid_until: dt.datetime,
) -> bytes:
    """The A4 letter in French handed to the patient at the desk (fpdf2 + DejaVu)."""
    return make_pdf(
        "Votre dossier médical partagé (DMP)",
        [
            f"Bonjour {name},",
            f"Votre DMP a été créé le {_date_fr(issued_at)} avec votre consentement. "
            "Voici vos codes d'accès à votre espace patient.",
            "",
            f"Identifiant : {login}",
            f"Mot de passe à usage unique : {password}",
            "",
            f"Ce mot de passe est valable {(valid_until - issued_at).days} jours, jusqu'au "
            f"{french_stamp(valid_until)}. "
            "À votre première connexion, vous choisirez votre propre mot de passe puis "
            "activerez un second facteur (application d'authentification).",
            f"Adresse de votre espace patient : {portal_url}",
            "",
            "Fermer votre DMP : à tout moment, depuis votre espace patient (rubrique "
            "« Fermer mon DMP », votre mot de passe vous est redemandé) ou à l'accueil d'un "
            "établissement de santé. Un DMP fermé n'est plus consultable ni alimenté ; il est "
            "conservé dix ans puis détruit, et vous pouvez demander sa destruction anticipée.",
            "",
            "Conservez ce courrier en lieu sûr. Personne ne vous demandera jamais ce mot de "
            "passe, ni par téléphone ni par courriel.",
        ],
        created=issued_at,
    )
