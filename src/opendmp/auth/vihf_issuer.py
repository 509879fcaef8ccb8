"""Signed VIHFs for development, demos and tests (``opendmp vihf``).

A VIHF is built with the attributes ``auth.vihf_format`` reads and signed the way the DMP
expects: enveloped XML-DSig in the Assertion, RSA-SHA256, SHA-256 digest, exclusive C14N,
the signing certificate in ``KeyInfo/X509Data``. The signing key is an establishment's
RSA 2048 key with a self-signed certificate naming its structure (``OU=<Struct_IdNat>``),
kept in ``OPENDMP_HOME/pki/vihf/<Struct_IdNat>.pem`` and ``.key`` (0600); the server trusts
it once its public key is registered for that structure (``opendmp demo`` does both).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from opendmp.auth import vihf_format as f
from opendmp.auth.pki import establishment_subject
from opendmp.auth.vihf import certificate_jwk
from opendmp.domain.actors import AccessMode
from opendmp.domain.errors import InvalidInput, NotFound
from opendmp.domain.identifiers import parse_idnat_ps, parse_ins_reference, parse_struct_idnat
from opendmp.storage.private_files import make_private_dir, write_private_file

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
DS = "http://www.w3.org/2000/09/xmldsig#"
VIHF_VERSION = "3.0"
PURPOSE_CODES = {
    AccessMode.NORMAL: "normal",
    AccessMode.BREAK_GLASS: "BRIS_DE_GLACE",
    AccessMode.REGULATION: "CENTRE_DE_REGULATION",
}


@dataclass(frozen=True, slots=True)
class VihfSigner:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, object]:
        return certificate_jwk(self.certificate)


@dataclass(frozen=True, slots=True)
class VihfRequest:
    """What ``opendmp vihf`` (and the tests) ask for; see ``auth.vihf_format``."""

    idnat: str
    structure: str
    patient_ins: str  # "OID|VALUE"
    profession: str
    specialty: str | None = None
    purpose: AccessMode = AccessMode.NORMAL
    reason: str | None = None
    name: str = "DEMO Utilisateur"
    sector: str = "SA01^1.2.250.1.71.4.2.4"
    auth_mode: str = "INDIRECTE_RENFORCEE"
    software_name: str = "OpenDMP vihf"
    software_version: str = "1.0"
    homologation: str | None = "OPENDMP-DEV"
    audience: str | None = "opendmp"


def make_signer(
    structure: str, name: str | None = None, *, now: dt.datetime | None = None
) -> VihfSigner:
    """A fresh RSA 2048 key and a self-signed establishment certificate valid 3 years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = establishment_subject(parse_struct_idnat(structure).idnat, name)
    now = now or dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * 3))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return VihfSigner(cert, key)


def _signer_files(home: Path, structure: str) -> tuple[Path, Path]:
    folder = home / "pki" / "vihf"
    return folder / f"{structure}.pem", folder / f"{structure}.key"


def ensure_signer(home: Path, structure: str, name: str | None = None) -> VihfSigner:
    """The structure's signer under ``home``, created on first use."""
    cert_file, key_file = _signer_files(home, parse_struct_idnat(structure).idnat)
    if cert_file.exists():
        return load_signer(home, structure)
    signer = make_signer(structure, name)
    make_private_dir(cert_file.parent)
    key_pem = signer.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(key_file, key_pem)
    write_private_file(cert_file, signer.certificate.public_bytes(serialization.Encoding.PEM))
    return signer


def load_signer(home: Path, structure: str) -> VihfSigner:
    cert_file, key_file = _signer_files(home, parse_struct_idnat(structure).idnat)
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except FileNotFoundError:
        raise NotFound(
            f"no VIHF signing key for {structure} in {cert_file.parent} (run 'opendmp demo')",
            code="vihf-key-missing",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInput("a VIHF signing key is RSA", code="vihf-key-not-rsa")
    return VihfSigner(cert, key)


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{f.SAML2}}}{name}")
    child.text = text
    return child


def _attribute(statement: etree._Element, name: str, *values: str) -> None:
    attribute = _sub(statement, "Attribute")
    attribute.set("Name", name)
    for value in values:
        _sub(attribute, "AttributeValue", value)


def _coded_attribute(
    statement: etree._Element, name: str, tag: str, *codes: tuple[str, str]
) -> None:
    attribute = _sub(statement, "Attribute")
    attribute.set("Name", name)
    for code, system in codes:
        value = _sub(attribute, "AttributeValue")
        coded = etree.SubElement(value, f"{{{HL7}}}{tag}", nsmap={"hl7": HL7, "xsi": XSI})
        coded.set(f"{{{XSI}}}type", "CE")
        coded.set("code", code)
        coded.set("codeSystem", system)


def _times(assertion: etree._Element, now: dt.datetime, ttl: dt.timedelta) -> etree._Element:
    def stamp(moment: dt.datetime) -> str:
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    assertion.set("IssueInstant", stamp(now))
    conditions = etree.Element(f"{{{f.SAML2}}}Conditions")
    conditions.set("NotBefore", stamp(now))
    conditions.set("NotOnOrAfter", stamp(now + ttl))
    return conditions


def build_vihf(request: VihfRequest, *, now: dt.datetime, ttl: dt.timedelta) -> etree._Element:
    """An unsigned VIHF Assertion (``sign_vihf`` signs it)."""
    idnat = parse_idnat_ps(request.idnat).idnat
    structure = parse_struct_idnat(request.structure).idnat
    ins = parse_ins_reference(request.patient_ins, "")
    if request.purpose is AccessMode.BREAK_GLASS and not (request.reason or "").strip():
        raise InvalidInput("a break-glass VIHF needs --reason", code="justification-required")
    assertion = etree.Element(f"{{{f.SAML2}}}Assertion", nsmap={"saml": f.SAML2})
    assertion.set("ID", f"_{uuid.uuid4().hex}")
    assertion.set("Version", "2.0")
    conditions = _times(assertion, now, ttl)
    _sub(assertion, "Issuer", structure)
    subject = _sub(assertion, "Subject")
    _sub(subject, "NameID", idnat).set(
        "Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    )
    _sub(subject, "SubjectConfirmation").set(
        "Method", "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"
    )
    assertion.append(conditions)
    if request.audience:
        _sub(_sub(conditions, "AudienceRestriction"), "Audience", request.audience)
    statement = _sub(assertion, "AttributeStatement")
    roles = [(request.profession, f.PROFESSION_SYSTEM)]
    if request.specialty:
        roles.append((request.specialty, f.SPECIALTY_SYSTEM))
    _coded_attribute(statement, f.ROLE, "Role", *roles)
    purpose = (PURPOSE_CODES[request.purpose], f.PURPOSE_SYSTEM)
    _coded_attribute(statement, f.PURPOSE, "PurposeOfUse", purpose)
    plain = {
        f.VERSION: VIHF_VERSION,
        f.STRUCTURE: structure,
        f.SECTOR: request.sector,
        f.SUBJECT_ID: request.name,
        f.RESOURCE_ID: f"{ins.value}^^^&{ins.oid}&ISO",
        f.AUTH_MODE: request.auth_mode,
        f.SOFTWARE_NAME: request.software_name,
        f.SOFTWARE_VERSION: request.software_version,
        f.HOMOLOGATION: request.homologation,
        f.REASON: request.reason,
    }
    for name, value in plain.items():
        if value:
            _attribute(statement, name, value)
    return assertion


def sign_vihf(assertion: etree._Element, signer: VihfSigner) -> etree._Element:
    """Sign in place of a placeholder after ``Issuer`` (SAML 2.0 core §5.4.1 order)."""
    placeholder = etree.Element(f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    issuer = assertion.find(f"{{{f.SAML2}}}Issuer")
    if issuer is None:  # only tests build a VIHF without Issuer
        assertion.insert(0, placeholder)
    else:
        issuer.addnext(placeholder)
    cert_pem = signer.certificate.public_bytes(serialization.Encoding.PEM).decode()
    signed: etree._Element = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(
        assertion,
        key=signer.key,
        cert=[cert_pem],
        reference_uri=f"#{assertion.get('ID')}",
        id_attribute="ID",
    )
    return signed


def issue_vihf(
    request: VihfRequest, signer: VihfSigner, *, now: dt.datetime, ttl: dt.timedelta
) -> bytes:
    """A signed VIHF, serialised (UTF-8, no XML declaration)."""
    return etree.tostring(sign_vihf(build_vihf(request, now=now, ttl=ttl), signer))
