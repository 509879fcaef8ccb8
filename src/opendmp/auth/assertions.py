"""Indirect authentication: an establishment's software acting for one of its staff.

The software presents the establishment's certificate (TLS client certificate, or the
proxy header) and, in the ``X-DMP-Assertion`` header, a JWT it signed with a key
registered for that establishment (``opendmp establishment register-key``). The JWT
carries the VIHF attributes of docs/rules.md §1:

==================  =================================================================
claim              VIHF attribute
==================  =================================================================
``iss``            Identifiant_Structure: the Struct_IdNat of the certificate
``sector``         Secteur_Activite (e.g. ``SA07``)
``sub``            Subject:Id — the user's IdNat_PS
``name``           Subject:Name
``role``           Subject:Role — ``<profession>[/<specialty>]`` (e.g. ``10/SM54``)
``card_kind``      CPS (default) or CPE for staff without a professional card
``auth_context``   Authentification_Mode — how the software authenticated the user
``purpose``        PurposeOfUse: ``normal`` | ``break-glass`` | ``regulation``
``reason``         the written justification (required for break-glass)
``patient_ins``    Resource-ID: the patient's INS, ``OID|VALUE``
``software_name``  LPS_Nom
``software_version`` LPS_Version
``homologation``   LPS_ID_HOMOLOGATION_DMP
``aud``            OpenDMP's ``OPENDMP_TOKEN_AUDIENCE``
``iat``/``exp``    at most 5 minutes apart (+60 s skew)
``jti``            unique: seen once, refused ever after (kept until expiry)
==================  =================================================================
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from opendmp.auth.certificates import Establishment
from opendmp.auth.tokens import (
    ALLOWED_ALGORITHMS,
    check_algorithm,
    check_audience,
    check_times,
    decode_unverified,
    invalid,
    numeric_date,
    professional_from_claims,
    text_claim,
)
from opendmp.domain.actors import Professional
from opendmp.domain.errors import AccessDenied, InvalidIdentifier, Unauthenticated
from opendmp.domain.identifiers import parse_ins_reference
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity

MAX_LIFETIME = dt.timedelta(minutes=5)
REQUIRED = ("sub", "sector", "role", "purpose", "software_name", "homologation", "jti")


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    actor: Professional
    struct_idnat: str
    patient_ins: str | None
    sector: str
    software_name: str
    software_version: str | None
    homologation: str
    auth_context: str | None


def _patient(claims: dict[str, object]) -> str | None:
    text = text_claim(claims, "patient_ins")
    if text is None:
        return None
    if "|" not in text:
        raise invalid("patient_ins is the INS as OID|VALUE", code="invalid-assertion")
    try:
        return str(parse_ins_reference(text, ""))
    except InvalidIdentifier as error:
        raise invalid(error.message, code="invalid-assertion") from None


async def verify_assertion(
    ctx: ServiceContext,
    token: str,
    establishment: Establishment,
    *,
    audience: str,
    now: dt.datetime,
) -> VerifiedAssertion:
    """Verify an establishment's assertion; its jti is burnt on success."""
    try:
        header, unverified = decode_unverified(token)
        check_algorithm(header)
    except Unauthenticated as error:
        raise invalid(error.message, code="invalid-assertion") from None
    if unverified.get("iss") != establishment.struct_idnat:
        raise AccessDenied(
            "the assertion speaks for another structure than the certificate",
            code="assertion-structure-mismatch",
        )
    # Keys come from the certificate's structure, never from a claim of the assertion.
    registered = await identity.establishment_keys(ctx, establishment.struct_idnat)
    kid = header.get("kid")
    candidates = [k.public_jwk for k in registered if kid is None or k.kid == kid]
    if not candidates:
        raise invalid(
            "the assertion is signed by a key not registered for this structure",
            code="assertion-key-unknown",
        )
    try:
        claims = dict(
            jwt.decode(
                token, KeySet.import_key_set({"keys": candidates}), algorithms=ALLOWED_ALGORITHMS
            ).claims
        )
    except (JoseError, ValueError):
        raise invalid("assertion signature does not verify", code="invalid-assertion") from None
    expires = check_times(claims, now, prefix="assertion")
    issued = numeric_date(claims, "iat", required=True)
    assert issued is not None
    if expires - issued > MAX_LIFETIME:
        raise invalid("an assertion lives at most 5 minutes", code="assertion-too-long")
    check_audience(claims, audience)
    missing = [name for name in REQUIRED if not text_claim(claims, name)]
    if missing:
        raise invalid(f"assertion lacks {', '.join(missing)}", code="invalid-assertion")
    profession, _, specialty = str(claims["role"]).partition("/")
    actor = professional_from_claims(
        {
            **claims,
            "profession": profession,
            "specialty": specialty or None,
            "organization": establishment.struct_idnat,
        },
        idnat=str(claims["sub"]),
    )
    patient = _patient(claims)
    fresh = await identity.remember_assertion(
        ctx,
        issuer=establishment.struct_idnat,
        jti=str(claims["jti"]),
        expires_at=expires + dt.timedelta(seconds=60),
    )
    if not fresh:
        raise invalid("this assertion was already used", code="assertion-replayed")
    return VerifiedAssertion(
        actor=actor,
        struct_idnat=establishment.struct_idnat,
        patient_ins=patient,
        sector=str(claims["sector"]),
        software_name=str(claims["software_name"]),
        software_version=text_claim(claims, "software_version"),
        homologation=str(claims["homologation"]),
        auth_context=text_claim(claims, "auth_context"),
    )
