"""A test certification authority and test card / establishment certificates.

``opendmp pki init`` writes ``OPENDMP_HOME/pki/ca.pem`` and ``ca.key`` (0600); ``opendmp
pki issue-card`` and ``issue-establishment`` write ``pki/cards/<name>.pem`` + ``.key``.
Certificates follow the profile documented in ``opendmp.auth.certificates``. The CA is
named "TEST AC OPENDMP" so that everything it issues is a test card, refused in production.
Keys are ECDSA P-256 (the IGC-Santé issues RSA 2048 on cards; P-256 keeps tests fast and
the verifier accepts both).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from opendmp.auth.certificates import TEST_MARK
from opendmp.domain.actors import CardKind
from opendmp.domain.errors import InvalidInput, NotFound
from opendmp.domain.identifiers import parse_idnat_ps, parse_struct_idnat
from opendmp.storage.private_files import make_private_dir, write_private_file

TEST_CA_NAME = "TEST AC OPENDMP"


@dataclass(frozen=True, slots=True)
class Authority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class IssuedFiles:
    certificate: Path
    key: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_authority(
    name: str = TEST_CA_NAME, *, now: dt.datetime | None = None, years: int = 10
) -> Authority:
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenDMP"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def card_subject(
    *,
    idnat: str,
    name: str,
    profession: str,
    specialty: str | None,
    kind: CardKind,
    organization: str | None,
    organization_name: str | None,
    test: bool,
) -> x509.Name:
    """The subject of a person's card certificate (profile in ``auth.certificates``)."""
    family, _, given = name.strip().partition(" ")
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    if organization:
        attrs.append(
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization_name or organization)
        )
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, kind.value))
    if test:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_MARK))
    title = profession + (f"/{specialty}" if specialty else "")
    attrs += [
        x509.NameAttribute(NameOID.TITLE, title),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, idnat),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{idnat}/{name.strip()}"),
        x509.NameAttribute(NameOID.SURNAME, family),
    ]
    if given:
        attrs.append(x509.NameAttribute(NameOID.GIVEN_NAME, given))
    return x509.Name(attrs)


def establishment_subject(struct_idnat: str, name: str | None) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name or struct_idnat),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, struct_idnat),
            x509.NameAttribute(NameOID.COMMON_NAME, struct_idnat),
        ]
    )


def issue(
    authority: Authority,
    subject: x509.Name,
    *,
    now: dt.datetime | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 365 * 3,
    serial: int | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client-authentication certificate for ``subject`` signed by ``authority``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certify(
        authority,
        subject,
        key.public_key(),
        now=now,
        not_before=not_before,
        not_after=not_after,
        days=days,
        serial=serial,
    )
    return cert, key


def certify(
    authority: Authority,
    subject: x509.Name,
    public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    *,
    now: dt.datetime | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 365 * 3,
    serial: int | None = None,
) -> x509.Certificate:
    """A client-authentication certificate of ``public`` (an EC card key, or the RSA key an
    establishment signs its VIHFs with) for ``subject``, signed by ``authority``."""
    now = now or _now()
    ca_public = authority.certificate.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.certificate.subject)
        .public_key(public)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
        .sign(authority.key, hashes.SHA256())
    )


def make_crl(
    authority: Authority,
    revoked_serials: list[int],
    *,
    now: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
) -> x509.CertificateRevocationList:
    now = now or _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(next_update or now + dt.timedelta(days=7))
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    return builder.sign(authority.key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# --- files under OPENDMP_HOME/pki -------------------------------------------------------


def pki_dir(home: Path) -> Path:
    return home / "pki"


def init_authority(home: Path, *, force: bool = False) -> IssuedFiles:
    """Create the test CA in ``home/pki`` (kept if it exists, unless ``force``)."""
    folder = pki_dir(home)
    files = IssuedFiles(folder / "ca.pem", folder / "ca.key")
    if files.certificate.exists() and not force:
        return files
    authority = make_authority()
    make_private_dir(folder)
    write_private_file(files.key, _key_pem(authority.key))
    write_private_file(files.certificate, pem(authority.certificate))
    return files


def load_authority(home: Path) -> Authority:
    folder = pki_dir(home)
    try:
        cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    except FileNotFoundError:
        raise NotFound(
            f"no test CA in {folder}: run 'opendmp pki init' first", code="pki-not-initialised"
        ) from None
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Authority(cert, key)


def _save(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> IssuedFiles:
    files = IssuedFiles(folder / f"{stem}.pem", folder / f"{stem}.key")
    write_private_file(files.key, _key_pem(key))
    write_private_file(files.certificate, pem(cert))
    return files


def issue_card_files(
    home: Path,
    *,
    idnat: str,
    profession: str,
    name: str,
    kind: CardKind,
    specialty: str | None = None,
    organization: str | None = None,
    organization_name: str | None = None,
) -> IssuedFiles:
    """Issue a test card certificate + key into ``home/pki/cards``."""
    parsed = parse_idnat_ps(idnat)
    structure = parse_struct_idnat(organization).idnat if organization else None
    if kind is CardKind.CPE and structure is None:
        raise InvalidInput("a CPE card needs --organization", code="organization-required")
    if not profession.strip():
        raise InvalidInput("--profession is required", code="invalid-input")
    authority = load_authority(home)
    subject = card_subject(
        idnat=parsed.idnat,
        name=name,
        profession=profession.strip(),
        specialty=specialty,
        kind=kind,
        organization=structure,
        organization_name=organization_name,
        test=True,
    )
    cert, key = issue(authority, subject)
    return _save(pki_dir(home) / "cards", f"{kind.value.lower()}-{parsed.idnat}", cert, key)


def issue_establishment_files(home: Path, *, organization: str, name: str | None) -> IssuedFiles:
    """Issue a test establishment (organisation) certificate + key into ``home/pki/cards``."""
    structure = parse_struct_idnat(organization).idnat
    authority = load_authority(home)
    cert, key = issue(authority, establishment_subject(structure, name))
    return _save(pki_dir(home) / "cards", f"org-{structure}", cert, key)
