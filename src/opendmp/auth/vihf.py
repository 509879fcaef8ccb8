"""VIHF authentication of XDS.b calls: the SAML 2.0 assertion of the WS-Security header.

Two modes (docs/security.md, "VIHF"):

- **indirect**: the establishment's software signs the VIHF (enveloped XML-DSig,
  RSA-SHA256, SHA-256, exclusive C14N). The signing certificate (``KeyInfo/X509Data``) must
  be an establishment certificate OpenDMP trusts: issued by a configured CA
  (``OPENDMP_CLIENT_CA_FILE``, CRLs applied), or whose public key is registered for its
  structure (``opendmp establishment register-key``; ``opendmp demo`` registers its own).
  The VIHF's ``Identifiant_Structure`` must be that certificate's structure.
- **direct**: a CPS card certificate on the TLS session; the VIHF may then be unsigned (or
  signed) and its ``NameID`` must be the card's IdNat_PS.

Signature wrapping is stopped by reading attributes only from the tree signxml returns as
signed (``VerifyResult.signed_xml``), after checking that it is the assertion given (same
``ID``, reference ``#ID``, signature a child of the assertion) and that no other element of
the whole document carries that ID. Accepted IDs are burnt in the database until their
``NotOnOrAfter`` (``services.identity.remember_vihf``): a replay is refused on every node.
The actor is built exactly as the FHIR API builds it from a token or an assertion
(``auth.tokens.professional_from_claims``, then ``identity.professional_as_known``).
HTTP routes call it through ``auth.dependencies.Authenticator.authenticate_vihf``, which
takes the client certificate where the FHIR API does (TLS session or trusted proxy).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import RSAKey
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from opendmp.auth.certificates import (
    CardHolder,
    CertificateRefused,
    CertificateSubject,
    CertificateVerifier,
    Establishment,
    read_subject,
)
from opendmp.auth.tokens import CLOCK_SKEW, professional_from_claims
from opendmp.auth.vihf_format import SAML2, Vihf, VihfError, read_vihf, refuse
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.errors import OpenDMPError
from opendmp.services.core.context import CredentialTrust, ServiceContext
from opendmp.services.directory import identity

__all__ = ["Vihf", "VihfError", "VihfIdentity", "authenticate_vihf", "find_assertion"]

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SIGNATURE_CONFIG = SignatureConfiguration(
    location="./",  # the ds:Signature is a child of the Assertion (enveloped)
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
)


@dataclass(frozen=True, slots=True)
class VihfIdentity:
    actor: Professional  # a VIHF always speaks for a professional
    vihf: Vihf


def find_assertion(security_header: etree._Element) -> etree._Element:
    """The ``saml:Assertion`` child of a ``wsse:Security`` header: exactly one."""
    if security_header.tag != f"{{{WSSE}}}Security":
        raise refuse("vihf-missing", "the VIHF is looked for in a wsse:Security header")
    found = list(security_header.iterchildren(f"{{{SAML2}}}Assertion"))
    if not found:
        raise refuse("vihf-missing", "the wsse:Security header carries no SAML Assertion")
    if len(found) > 1:
        raise refuse("vihf-several", "the wsse:Security header carries several Assertions")
    return found[0]


def certificate_jwk(cert: x509.Certificate) -> dict[str, object]:
    """The certificate's public key as a JWK (what ``establishment register-key`` stores)."""
    return dict(_certificate_jwk(cert))


# Every ITI-41 request compares its signer's key with the registered ones: an establishment
# signs with the same certificate for months (a certificate hashes by its DER bytes).
@functools.lru_cache(maxsize=256)
def _certificate_jwk(cert: x509.Certificate) -> dict[str, object]:
    public = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        return dict(RSAKey.import_key(public).as_dict(private=False))
    except ValueError:
        raise refuse("vihf-signer-not-rsa", "a VIHF is signed with an RSA key") from None


# --- the document ----------------------------------------------------------------------


def _refuse_dtd_and_entities(assertion: etree._Element) -> None:
    tree = assertion.getroottree()
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise refuse("vihf-dtd-refused", "a document type declaration is refused")
    for _ in tree.getroot().iter(etree.Entity):
        raise refuse("vihf-entity-refused", "entity references are refused")


# Compiled once: every VIHF is checked against every element of its message.
_SAME_ID = etree.XPath("//*[@ID=$v or @Id=$v or @id=$v or @wsu:Id=$v]", namespaces={"wsu": WSU})


def _check_unique_id(assertion: etree._Element) -> str:
    ident = assertion.get("ID")
    if not ident:
        raise refuse("vihf-missing-attribute", "the VIHF has no ID")
    same = _SAME_ID(assertion.getroottree().getroot(), v=ident)
    if len(same) != 1:  # type: ignore[arg-type]
        raise refuse("vihf-duplicate-id", "another element of the message has the VIHF's ID")
    return ident


def _signature_of(assertion: etree._Element) -> etree._Element | None:
    signatures = list(assertion.iterchildren(f"{{{DS}}}Signature"))
    if len(signatures) > 1:
        raise refuse("vihf-several-signatures", "the VIHF carries several signatures")
    return signatures[0] if signatures else None


def _certificates(signature: etree._Element) -> list[x509.Certificate]:
    path = f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"
    texts = [element.text or "" for element in signature.iterfind(path)]
    if not texts:
        raise refuse("vihf-no-certificate", "the VIHF's signature carries no X509Certificate")
    try:
        return [
            x509.load_der_x509_certificate(base64.b64decode("".join(t.split()), validate=True))
            for t in texts
        ]
    except (ValueError, binascii.Error):
        raise refuse("vihf-bad-certificate", "the VIHF's certificate cannot be read") from None


# --- trust -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _verifier_for(
    trust: CredentialTrust, clock: Callable[[], dt.datetime]
) -> CertificateVerifier | None:
    if trust.client_ca_file is None:
        return None
    return CertificateVerifier(
        trust.client_ca_file, trust.client_crl_file, production=trust.production, clock=clock
    )


def _establishment(subject: CertificateSubject) -> str:
    if not isinstance(subject, Establishment):
        raise refuse("vihf-signer-not-establishment", "a VIHF is signed by an establishment")
    return subject.struct_idnat


async def _registered(ctx: ServiceContext, structure: str, cert: x509.Certificate) -> bool:
    mine = certificate_jwk(cert)
    keys = await identity.establishment_keys(ctx, structure)
    return any(
        key.public_jwk.get("kty") == "RSA"
        and (key.public_jwk.get("n"), key.public_jwk.get("e")) == (mine["n"], mine["e"])
        for key in keys
    )


async def _signer_structure(
    ctx: ServiceContext, chain: Sequence[x509.Certificate], verifier: CertificateVerifier | None
) -> str:
    """The structure of a trusted establishment signing certificate, or a refusal."""
    leaf = chain[0]
    if verifier is not None and verifier.configured:
        try:
            return _establishment(verifier.verify(leaf, chain[1:]))
        except (ValueError, TypeError):  # library surprises, as certificates.verify_or_refuse
            raise refuse("vihf-signer-refused", "the VIHF's certificate is malformed") from None
        except CertificateRefused as error:
            if error.reason not in ("untrusted-issuer", "unknown-subject"):
                raise refuse(
                    "vihf-signer-refused", f"signing certificate: {error.reason}"
                ) from None
    now = ctx.now()
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise refuse("vihf-signer-refused", "the VIHF's signing certificate is not valid now")
    try:
        structure = _establishment(read_subject(leaf))
    except CertificateRefused:
        raise refuse("vihf-signer-untrusted", "the VIHF's signer is not an establishment") from None
    if not await _registered(ctx, structure, leaf):
        raise refuse("vihf-signer-untrusted", "the VIHF is signed by a key OpenDMP does not trust")
    return structure


def _check_signed_info(signature: etree._Element, ident: str) -> None:
    """Exclusive C14N, one reference to the assertion itself, enveloped + exc-C14N only."""
    info = signature.find(f"{{{DS}}}SignedInfo")
    method = info.find(f"{{{DS}}}CanonicalizationMethod") if info is not None else None
    references = info.findall(f"{{{DS}}}Reference") if info is not None else []
    if method is None or method.get("Algorithm") != EXC_C14N or len(references) != 1:
        raise refuse("vihf-bad-signature", "the VIHF's signature is not exclusive C14N")
    if references[0].get("URI") != f"#{ident}":
        raise refuse("vihf-wrapped", "the VIHF's signature covers another element")
    transforms = references[0].iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform")
    if any(t.get("Algorithm") not in (ENVELOPED, EXC_C14N) for t in transforms):
        raise refuse("vihf-bad-signature", "the VIHF's signature uses another transform")


def _signed_tree(
    assertion: etree._Element, signer: x509.Certificate, ident: str, now: dt.datetime
) -> etree._Element:
    """The assertion as signed (verified by signxml), never the tree we were given."""
    config = replace(SIGNATURE_CONFIG, verification_time=now)
    try:
        result = XMLVerifier().verify(
            assertion, x509_cert=signer, expect_config=config, id_attribute="ID"
        )
    except (SignXMLException, etree.LxmlError, ValueError, TypeError, AttributeError, KeyError):
        # signxml's refusals, and its surprises on a mangled signature (an element missing
        # or empty raises TypeError or AttributeError): a refusal, never a server error.
        raise refuse("vihf-bad-signature", "the VIHF's signature does not verify") from None
    assert not isinstance(result, list)  # expect_references=1
    _check_signed_info(result.signature_xml, ident)
    signed = result.signed_xml
    if signed is None or signed.tag != f"{{{SAML2}}}Assertion" or signed.get("ID") != ident:
        raise refuse("vihf-wrapped", "the signed element is not the VIHF presented")
    return signed


# --- authentication --------------------------------------------------------------------


def _card(
    tls_certificate: x509.Certificate | None,
    intermediates: Sequence[x509.Certificate],
    verifier: CertificateVerifier | None,
) -> CertificateSubject | None:
    if tls_certificate is None:
        return None
    if verifier is None:
        raise refuse("vihf-card-untrusted", "no CA is configured for client certificates")
    try:
        return verifier.verify(tls_certificate, intermediates)
    except CertificateRefused as error:
        raise refuse("vihf-card-refused", f"client certificate: {error.reason}") from None


def _check_parties(vihf: Vihf, signer: str | None, tls: CertificateSubject | None) -> None:
    """An establishment speaks for itself; a card for its holder."""
    if signer is not None and vihf.structure != signer:
        raise refuse("vihf-structure-mismatch", "the VIHF speaks for another structure")
    if isinstance(tls, Establishment) and tls.struct_idnat != vihf.structure:
        raise refuse("vihf-structure-mismatch", "the VIHF speaks for another structure")
    if isinstance(tls, CardHolder) and tls.idnat != vihf.idnat:
        raise refuse("vihf-card-mismatch", "the VIHF's NameID is not the card's holder")
    names = {vihf.structure, vihf.idnat} if isinstance(tls, CardHolder) else {vihf.structure}
    if vihf.issuer not in names:
        raise refuse("vihf-wrong-issuer", "the VIHF's Issuer is not its structure")


def _actor(vihf: Vihf, card: CardHolder | None) -> Professional:
    """The claims the FHIR API reads from a token, from the VIHF (and the card vouches for
    profession, specialty and card kind in direct authentication)."""
    claims = {
        "profession": card.profession if card and card.profession else vihf.profession,
        "specialty": card.specialty if card and card.profession else vihf.specialty,
        "organization": vihf.structure,
        "card_kind": card.card_kind.value if card else None,
        "name": vihf.subject_name,
        "purpose": vihf.purpose.value,
        "reason": vihf.justification,
    }
    try:
        return professional_from_claims(claims, idnat=vihf.idnat)
    except OpenDMPError as error:
        raise refuse(error.code, error.message) from None


async def _trusted_tree(
    ctx: ServiceContext,
    assertion: etree._Element,
    verifier: CertificateVerifier | None,
    tls: CertificateSubject | None,
    tls_certificate: x509.Certificate | None,
) -> tuple[etree._Element, str | None]:
    """(tree to read, signer's structure): the signed tree, or a card's unsigned VIHF."""
    ident = _check_unique_id(assertion)
    signature = _signature_of(assertion)
    if signature is None:
        if not isinstance(tls, CardHolder):
            raise refuse("vihf-unsigned", "an unsigned VIHF needs a CPS card on the TLS session")
        return assertion, None
    chain = _certificates(signature)
    own_card = isinstance(tls, CardHolder) and chain[0] == tls_certificate
    structure = None if own_card else await _signer_structure(ctx, chain, verifier)
    return _signed_tree(assertion, chain[0], ident, ctx.now()), structure


async def authenticate_vihf(
    ctx: ServiceContext,
    assertion: etree._Element,
    *,
    tls_certificate: x509.Certificate | None = None,
    tls_intermediates: Sequence[x509.Certificate] = (),
    certificates: CertificateVerifier | None = None,
    register: Callable[[Professional], Awaitable[Actor]] | None = None,
) -> VihfIdentity:
    """Verify a VIHF and return its actor; ``VihfError`` otherwise. Its ID is burnt.

    ``tls_certificate`` (and the intermediates sent with it) is the client certificate of
    the TLS session. ``certificates`` defaults to a verifier of ``ctx.trust``'s CA, and
    ``register`` to ``identity.professional_as_known``; ``Authenticator.authenticate_vihf``
    passes the FHIR API's own (same CA, same cache of professionals seen)."""
    verifier = certificates or _verifier_for(ctx.trust, ctx.clock)
    _refuse_dtd_and_entities(assertion)
    tls = _card(tls_certificate, tls_intermediates, verifier)
    tree, signer = await _trusted_tree(ctx, assertion, verifier, tls, tls_certificate)
    vihf = read_vihf(tree, now=ctx.now(), audience=ctx.trust.audience, signed=tree is not assertion)
    _check_parties(vihf, signer, tls)
    actor = _actor(vihf, tls if isinstance(tls, CardHolder) else None)
    fresh = await identity.remember_vihf(
        ctx,
        structure=vihf.structure,
        assertion_id=vihf.assertion_id,
        expires_at=vihf.not_on_or_after + CLOCK_SKEW,
    )
    if not fresh:
        raise refuse("vihf-replayed", "this VIHF was already used")
    if register is None:
        return VihfIdentity(await identity.professional_as_known(ctx, actor), vihf)
    known = await register(actor)
    assert isinstance(known, Professional)  # registration completes, never changes, the kind
    return VihfIdentity(known, vihf)
