"""VIHF authentication (XDS.b): signature, trust, wrapping, replay and direct authentication,
on a real database (registered establishment keys, replay register). Refusals first."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from sqlalchemy import func, select
from starlette.requests import Request

from opendmp.auth import pki
from opendmp.auth import vihf_format as f
from opendmp.auth.certificates import CertificateVerifier
from opendmp.auth.dependencies import Authenticator
from opendmp.auth.tokens import professional_from_claims
from opendmp.auth.vihf import VihfError, VihfIdentity, authenticate_vihf, find_assertion
from opendmp.auth.vihf_issuer import VihfSigner, make_signer, sign_vihf
from opendmp.config import load_settings
from opendmp.domain.actors import AccessMode, CardKind, Professional
from opendmp.services.core.context import CredentialTrust, ServiceContext
from opendmp.services.directory import identity
from opendmp.storage import models as m
from tests.auth_support import CERT_HEADER, ESTABLISHMENT, GP, NOW, OTHER_ESTABLISHMENT, card, idnat
from tests.conftest import Clock
from tests.factories import OPERATOR
from tests.vihf_support import (
    PARSER,
    PATIENT,
    SIGNER,
    attribute,
    in_envelope,
    security_header,
    signed,
    unsigned,
)

AUTHORITY = pki.make_authority("AC OPENDMP TESTS", now=NOW - dt.timedelta(days=1))
DS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.fixture
async def registered(ctx: ServiceContext, clock: Clock) -> VihfSigner:
    clock.now = NOW
    await identity.register_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    return SIGNER


@pytest.fixture
def verifier(tmp_path: Path, clock: Clock) -> CertificateVerifier:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(pki.pem(AUTHORITY.certificate))
    return CertificateVerifier(ca_file, clock=clock)


async def accepted(
    ctx: ServiceContext, assertion: etree._Element, **kwargs: object
) -> VihfIdentity:
    return await authenticate_vihf(ctx, in_envelope(assertion), **kwargs)  # type: ignore[arg-type]


async def refused(ctx: ServiceContext, assertion: etree._Element, **kwargs: object) -> VihfError:
    with pytest.raises(VihfError) as caught:
        await authenticate_vihf(ctx, assertion, **kwargs)  # type: ignore[arg-type]
    return caught.value


async def seen_rows(ctx: ServiceContext) -> int:
    async with ctx.uow() as uow:
        return (
            await uow.session.execute(select(func.count()).select_from(m.SeenVihf))
        ).scalar_one()


# --- validity, audience, trust ---------------------------------------------------------


async def test_an_expired_vihf_is_refused(
    ctx: ServiceContext, clock: Clock, registered: object
) -> None:
    assertion = signed()
    clock.advance(minutes=11, seconds=1)
    error = await refused(ctx, in_envelope(assertion))
    assert (error.code, str(error)) == ("vihf-expired", "the VIHF has expired")
    assert await seen_rows(ctx) == 0


async def test_a_vihf_not_yet_valid_is_refused(ctx: ServiceContext, registered: object) -> None:
    error = await refused(ctx, in_envelope(signed(now=NOW + dt.timedelta(minutes=5))))
    assert error.code == "vihf-not-yet-valid"


async def test_a_vihf_living_more_than_12_hours_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    error = await refused(ctx, in_envelope(signed(ttl=dt.timedelta(hours=13))))
    assert error.code == "vihf-too-long"


async def test_a_vihf_for_another_audience_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    error = await refused(ctx, in_envelope(signed(audience="https://other.example")))
    assert error.code == "wrong-audience"


async def test_the_audience_is_the_one_of_the_settings(
    ctx: ServiceContext, registered: object
) -> None:
    ctx.trust = CredentialTrust(audience="https://dmp.test")
    assert (await refused(ctx, in_envelope(signed()))).code == "wrong-audience"
    assert (await accepted(ctx, signed(audience="https://dmp.test"))).vihf.idnat == GP


async def test_a_vihf_without_audience_restriction_is_accepted(
    ctx: ServiceContext, registered: object
) -> None:
    assert (await accepted(ctx, signed(audience=None))).vihf.structure == ESTABLISHMENT


async def test_a_key_registered_for_no_structure_is_not_trusted(
    ctx: ServiceContext, clock: Clock
) -> None:
    clock.now = NOW
    stranger = make_signer(
        ESTABLISHMENT, now=NOW
    )  # self-signed, names the structure, not registered
    error = await refused(ctx, in_envelope(signed(signer=stranger)))
    assert error.code == "vihf-signer-untrusted"


async def test_a_revoked_establishment_key_is_not_trusted(
    ctx: ServiceContext, registered: object
) -> None:
    keys = await identity.establishment_keys(ctx, ESTABLISHMENT)
    await identity.revoke_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=ESTABLISHMENT, kid=keys[0].kid
    )
    assert (await refused(ctx, in_envelope(signed()))).code == "vihf-signer-untrusted"


async def test_an_establishment_cannot_speak_for_another_structure(
    ctx: ServiceContext, registered: object
) -> None:
    error = await refused(ctx, in_envelope(signed(structure=OTHER_ESTABLISHMENT)))
    assert error.code == "vihf-structure-mismatch"
    assert await seen_rows(ctx) == 0


async def test_a_key_registered_for_another_structure_does_not_sign_for_its_own(
    ctx: ServiceContext, clock: Clock
) -> None:
    clock.now = NOW
    await identity.register_establishment_key(
        ctx, actor=OPERATOR, struct_idnat=OTHER_ESTABLISHMENT, public_jwk=SIGNER.public_jwk()
    )
    # The certificate names ESTABLISHMENT: its key counts only for the structure it names.
    error = await refused(ctx, in_envelope(signed(structure=OTHER_ESTABLISHMENT)))
    assert error.code == "vihf-signer-untrusted"


def ca_signer(structure: str = ESTABLISHMENT) -> VihfSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = pki.establishment_subject(structure, "Centre de test")
    return VihfSigner(pki.certify(AUTHORITY, subject, key.public_key(), now=NOW), key)


async def test_an_establishment_certificate_of_the_configured_ca_is_trusted(
    ctx: ServiceContext, clock: Clock, verifier: CertificateVerifier
) -> None:
    clock.now = NOW
    signer = ca_signer()
    found = await accepted(ctx, signed(signer=signer), certificates=verifier)
    assert found.vihf.structure == ESTABLISHMENT
    other = await refused(
        ctx,
        in_envelope(signed(signer=signer, structure=OTHER_ESTABLISHMENT)),
        certificates=verifier,
    )
    assert other.code == "vihf-structure-mismatch"


async def test_the_ca_of_the_settings_is_used_by_default(
    ctx: ServiceContext, clock: Clock, tmp_path: Path
) -> None:
    clock.now = NOW
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(pki.pem(AUTHORITY.certificate))
    assert (await refused(ctx, in_envelope(signed(signer=ca_signer())))).code == (
        "vihf-signer-untrusted"
    )
    ctx.trust = CredentialTrust(client_ca_file=ca_file)
    assert (await accepted(ctx, signed(signer=ca_signer()))).vihf.idnat == GP


async def test_a_card_certificate_cannot_sign_for_an_establishment(
    ctx: ServiceContext, clock: Clock, verifier: CertificateVerifier
) -> None:
    clock.now = NOW
    error = await refused(ctx, in_envelope(signed(signer=rsa_card())), certificates=verifier)
    assert error.code == "vihf-signer-not-establishment"


def rsa_card() -> VihfSigner:
    """A CPS card certificate (the CA's) with an RSA key, as a VIHF signer."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = card(AUTHORITY)[0].subject
    return VihfSigner(pki.certify(AUTHORITY, subject, key.public_key(), now=NOW), key)


async def test_in_direct_authentication_the_card_may_sign_its_own_vihf(
    ctx: ServiceContext, clock: Clock, verifier: CertificateVerifier
) -> None:
    clock.now = NOW
    own = rsa_card()
    found = await accepted(
        ctx, signed(signer=own), tls_certificate=own.certificate, certificates=verifier
    )
    assert (found.actor.actor_id, found.vihf.signed) == (GP, True)
    other = rsa_card()  # another certificate of the same holder: not the TLS session's
    error = await refused(
        ctx,
        in_envelope(signed(signer=other)),
        tls_certificate=own.certificate,
        certificates=verifier,
    )
    assert error.code == "vihf-signer-not-establishment"


# --- signature and wrapping ------------------------------------------------------------


async def test_an_attribute_changed_after_signing_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    assertion = signed()
    assertion.find(f"{{{f.SAML2}}}Subject/{{{f.SAML2}}}NameID").text = idnat(12)  # type: ignore[union-attr]
    assert (await refused(ctx, in_envelope(assertion))).code == "vihf-bad-signature"
    tampered = signed()
    attribute(tampered, f.RESOURCE_ID)[0].text = f"{PATIENT.value[:-2]}00^^^&{PATIENT.oid}&ISO"
    assert (await refused(ctx, in_envelope(tampered))).code == "vihf-bad-signature"


@pytest.mark.parametrize(
    "part", ["SignedInfo", "SignatureValue", "DigestValue", "Reference", "Transforms", "KeyInfo"]
)
@pytest.mark.parametrize("how", ["removed", "emptied"])
async def test_a_mangled_signature_is_a_refusal_not_an_error(
    ctx: ServiceContext, registered: object, part: str, how: str
) -> None:
    assertion = signed()
    element = next(assertion.iter(f"{{{DS}}}{part}"))
    if how == "removed":
        element.getparent().remove(element)  # type: ignore[union-attr]
    else:
        element.text = None
        for child in list(element):
            element.remove(child)
    error = await refused(ctx, in_envelope(assertion))
    assert error.code in {"vihf-bad-signature", "vihf-no-certificate", "vihf-wrapped"}


async def test_an_unsigned_vihf_without_a_card_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    assert (await refused(ctx, in_envelope(unsigned()))).code == "vihf-unsigned"


async def test_a_second_unsigned_assertion_placed_first_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    forged = unsigned(idnat=idnat(13))
    header = security_header(forged, signed())
    with pytest.raises(VihfError) as caught:
        find_assertion(header)
    assert caught.value.code == "vihf-several"
    first = header.find(f"{{{f.SAML2}}}Assertion")
    assert first is not None
    assert (await refused(ctx, first)).code == "vihf-unsigned"


def wrapped(original: etree._Element, *, same_id: bool, into: str) -> etree._Element:
    """The attacker's assertion (another NameID) carrying the signature moved out of the
    original, the genuine signed assertion tucked into an Advice element or the
    signature's Object (the classic XML signature wrapping)."""
    forged = unsigned(idnat=idnat(14))
    if same_id:
        forged.set("ID", original.get("ID") or "")
    signature = original.find(f"{{{DS}}}Signature")
    assert signature is not None
    forged.find(f"{{{f.SAML2}}}Issuer").addnext(signature)  # type: ignore[union-attr]
    holder = (
        etree.SubElement(forged, f"{{{f.SAML2}}}Advice")
        if into == "advice"
        else etree.SubElement(forged.find(f"{{{DS}}}Signature"), f"{{{DS}}}Object")  # type: ignore[arg-type]
    )
    holder.append(original)
    return forged


@pytest.mark.parametrize("into", ["advice", "object"])
@pytest.mark.parametrize("same_id", [False, True])
async def test_a_signed_assertion_moved_inside_a_forged_one_is_refused(
    ctx: ServiceContext, registered: object, same_id: bool, into: str
) -> None:
    forged = wrapped(signed(), same_id=same_id, into=into)
    error = await refused(ctx, in_envelope(forged))
    if same_id:
        assert error.code == "vihf-duplicate-id"
    else:  # inside ds:Object, signxml's schema check of the signature may refuse it first
        assert error.code in {"vihf-wrapped", "vihf-bad-signature"}
    assert await seen_rows(ctx) == 0


async def test_a_copy_of_the_assertion_id_elsewhere_in_the_message_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    assertion = signed()
    header = security_header(assertion)
    decoy = etree.SubElement(header, "{urn:test}Decoy", ID=assertion.get("ID") or "")
    decoy.text = "x"
    error = await refused(ctx, find_assertion(header))
    assert error.code == "vihf-duplicate-id"


async def test_a_document_type_declaration_or_entity_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    text = etree.tostring(signed()).decode()
    with_doctype = etree.fromstring(f"<!DOCTYPE x>{text}".encode(), PARSER)
    assert (await refused(ctx, with_doctype)).code == "vihf-dtd-refused"
    nameid = f'<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">{GP}'
    with_entity = text.replace(nameid, f"{nameid}&e;")
    assert with_entity != text
    parsed = etree.fromstring(f'<!DOCTYPE x [<!ENTITY e "1">]>{with_entity}'.encode(), PARSER)
    assert (await refused(ctx, parsed)).code == "vihf-dtd-refused"


# --- attributes ------------------------------------------------------------------------


def without(name: str) -> etree._Element:
    assertion = unsigned()
    if name in ("NameID", "Conditions", "Issuer"):
        element = next(assertion.iter(f"{{{f.SAML2}}}{name}"))
    else:
        element = attribute(assertion, name)
    element.getparent().remove(element)  # type: ignore[union-attr]
    return sign_vihf(assertion, SIGNER)


@pytest.mark.parametrize("name", [*f.MANDATORY, "NameID", "Issuer"])
async def test_each_mandatory_attribute_is_required(
    ctx: ServiceContext, registered: object, name: str
) -> None:
    error = await refused(ctx, in_envelope(without(name)))
    assert error.code == "vihf-missing-attribute"
    assert await seen_rows(ctx) == 0


async def test_a_vihf_without_conditions_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    assert (
        await refused(ctx, in_envelope(without("Conditions")))
    ).code == "vihf-missing-conditions"


async def test_a_break_glass_vihf_without_justification_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    assertion = unsigned()
    attribute(assertion, f.PURPOSE)[0][0].set("code", "BRIS_DE_GLACE")
    error = await refused(ctx, in_envelope(sign_vihf(assertion, SIGNER)))
    assert (error.code, str(error)) == (
        "justification-required",
        "a break-glass access needs a justification",
    )


async def test_an_issuer_that_is_not_the_structure_is_refused(
    ctx: ServiceContext, registered: object
) -> None:
    assertion = unsigned()
    assertion.find(f"{{{f.SAML2}}}Issuer").text = OTHER_ESTABLISHMENT  # type: ignore[union-attr]
    error = await refused(ctx, in_envelope(sign_vihf(assertion, SIGNER)))
    assert error.code == "vihf-wrong-issuer"


# --- replay ----------------------------------------------------------------------------


async def test_a_replayed_vihf_is_refused_until_it_expires(
    ctx: ServiceContext, clock: Clock, registered: object
) -> None:
    assertion = signed()
    await accepted(ctx, assertion)
    assert (await refused(ctx, in_envelope(assertion))).code == "vihf-replayed"
    assert await seen_rows(ctx) == 1
    # Expired rows are purged by the next insert.
    clock.advance(minutes=12)
    await accepted(ctx, signed(now=clock.now))
    assert await seen_rows(ctx) == 1


# --- direct authentication -------------------------------------------------------------


async def test_direct_authentication_takes_an_unsigned_vihf_of_the_card_holder(
    ctx: ServiceContext, clock: Clock, verifier: CertificateVerifier
) -> None:
    clock.now = NOW
    cert, _ = card(AUTHORITY)
    found = await accepted(ctx, unsigned(), tls_certificate=cert, certificates=verifier)
    assert (found.actor.idnat, found.vihf.signed) == (GP, False)
    assert found.actor.card_kind is CardKind.CPS


async def test_direct_authentication_refuses_a_vihf_naming_someone_else(
    ctx: ServiceContext, clock: Clock, verifier: CertificateVerifier
) -> None:
    clock.now = NOW
    cert, _ = card(AUTHORITY, who=idnat(15))
    error = await refused(ctx, in_envelope(unsigned()), tls_certificate=cert, certificates=verifier)
    assert error.code == "vihf-card-mismatch"
    assert await seen_rows(ctx) == 0


async def test_direct_authentication_also_checks_a_signed_vihf(
    ctx: ServiceContext, registered: VihfSigner, verifier: CertificateVerifier
) -> None:
    cert, _ = card(AUTHORITY)
    found = await accepted(ctx, signed(), tls_certificate=cert, certificates=verifier)
    assert found.vihf.signed
    tampered = signed()
    attribute(tampered, f.SOFTWARE_NAME)[0].text = "Other"
    error = await refused(ctx, in_envelope(tampered), tls_certificate=cert, certificates=verifier)
    assert error.code == "vihf-bad-signature"


async def test_a_card_from_an_untrusted_ca_is_refused(
    ctx: ServiceContext, clock: Clock, verifier: CertificateVerifier
) -> None:
    clock.now = NOW
    stranger = pki.make_authority("AC INCONNUE", now=NOW - dt.timedelta(days=1))
    cert, _ = card(stranger)
    error = await refused(ctx, in_envelope(unsigned()), tls_certificate=cert, certificates=verifier)
    assert error.code == "vihf-card-refused"


# --- what a valid VIHF gives -----------------------------------------------------------


async def test_a_normal_vihf_gives_the_actor_the_fhir_api_builds(
    ctx: ServiceContext, registered: object
) -> None:
    found = await accepted(ctx, signed())
    claims = {
        "profession": "10",
        "specialty": "SM54",
        "organization": ESTABLISHMENT,
        "name": "TESTPRO Dominique",
    }
    assert found.actor == professional_from_claims(claims, idnat=GP)
    vihf = found.vihf
    assert (vihf.idnat, vihf.structure, vihf.patient_ins) == (GP, ESTABLISHMENT, str(PATIENT))
    assert (vihf.sector, vihf.auth_mode, vihf.version) == ("SA01", "INDIRECTE_RENFORCEE", "3.0")
    assert (vihf.software_name, vihf.homologation, vihf.signed) == (
        "OpenDMP vihf",
        "OPENDMP-DEV",
        True,
    )
    assert vihf.not_on_or_after == NOW + dt.timedelta(minutes=10)
    async with ctx.uow() as uow:
        row = (
            await uow.session.execute(select(m.Professional).where(m.Professional.idnat == GP))
        ).scalar_one()
        assert (row.profession, row.specialty) == ("10", "SM54")


async def test_a_break_glass_vihf_carries_its_justification(
    ctx: ServiceContext, registered: object
) -> None:
    found = await accepted(
        ctx, signed(purpose=AccessMode.BREAK_GLASS, reason="patient inconscient aux urgences")
    )
    assert found.actor.access_mode is AccessMode.BREAK_GLASS
    assert found.actor.justification == "patient inconscient aux urgences"
    assert found.vihf.purpose is AccessMode.BREAK_GLASS


async def test_a_regulation_vihf_is_a_regulation_access(
    ctx: ServiceContext, registered: object
) -> None:
    found = await accepted(ctx, signed(purpose=AccessMode.REGULATION))
    assert found.actor.access_mode is AccessMode.REGULATION


async def test_the_directory_completes_the_actor_as_for_fhir(
    ctx: ServiceContext, registered: object
) -> None:
    # Known as a CPE: stays a CPE whatever the credential says (identity.as_the_directory_knows).
    known = Professional(idnat=GP, profession="10", card_kind=CardKind.CPE)
    await identity.register_seen_professional(ctx, known)
    found = await accepted(ctx, signed(specialty=None))
    assert (found.actor.idnat, found.actor.card_kind) == (GP, CardKind.CPE)


# --- through the app's Authenticator (what the XDS.b transport calls) -------------------


def http_request(
    tls_chain: list[str] | None = None, headers: dict[str, str] | None = None
) -> Request:
    scope: dict[str, object] = {
        "type": "http",
        "method": "POST",
        "path": "/xds/iti18",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("203.0.113.9", 50000),
    }
    if tls_chain is not None:
        scope["extensions"] = {"tls": {"client_cert_chain": tls_chain}}
    return Request(scope)


@pytest.fixture
def auth(
    ctx: ServiceContext, clock: Clock, tmp_path: Path, verifier: CertificateVerifier
) -> Authenticator:
    """The app's authenticator (the FHIR API's CA and proxies), its clock at NOW."""
    clock.now = NOW
    settings = load_settings(
        home=tmp_path,
        mode="development",
        client_cert_header=CERT_HEADER,
        trusted_proxies=["10.9.9.9"],
    )
    return Authenticator(settings, ctx, certificates=verifier)


def card_pem(who: str = GP) -> str:
    return pki.pem(card(AUTHORITY, who=who)[0]).decode()


async def test_the_authenticator_reads_the_card_of_the_tls_session(auth: Authenticator) -> None:
    found = await auth.authenticate_vihf(http_request([card_pem()]), in_envelope(unsigned()))
    assert (found.actor.actor_id, found.vihf.signed) == (GP, False)
    with pytest.raises(VihfError) as caught:
        await auth.authenticate_vihf(http_request([card_pem(idnat(16))]), in_envelope(unsigned()))
    assert caught.value.code == "vihf-card-mismatch"


async def test_the_authenticator_refuses_a_certificate_header_from_an_untrusted_peer(
    ctx: ServiceContext, auth: Authenticator
) -> None:
    request = http_request(headers={CERT_HEADER: urllib.parse.quote(card_pem())})
    with pytest.raises(VihfError) as caught:
        await auth.authenticate_vihf(request, in_envelope(unsigned()))
    assert caught.value.code == "untrusted-proxy"
    assert await seen_rows(ctx) == 0


async def test_the_authenticator_takes_a_signed_vihf_without_certificate(
    registered: object, auth: Authenticator
) -> None:
    found = await auth.authenticate_vihf(http_request(), in_envelope(signed()))
    assert found.vihf.structure == ESTABLISHMENT
