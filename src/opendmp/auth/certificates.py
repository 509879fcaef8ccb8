"""Client certificates: CPS/CPE card certificates and establishment certificates -> actors.

Certificate profile (shared by ``opendmp pki`` which issues test cards, and by the
verifier). It follows the naming of the ANS "IGC-Santé" (gamme élémentaire, domaine
Personnes / Organisations) closely enough that a real card's authentication certificate
reads the same way, without claiming to reproduce every field of it:

Card of a person (CPS, CPE, CPA) — subject:

    C=FR
    O=<name of the structure>                 (CPE: mandatory; CPS: when attached to one)
    OU=<Struct_IdNat>                         (e.g. 1750000019; mandatory for a CPE)
    OU=<card kind>                            CPS | CPE | CPA
    OU=TEST                                   test cards only
    title=<profession>[/<specialty>]          TRE_G15 code, e.g. 10/SM54, 60
    serialNumber=<IdNat_PS>                   THE identifier, e.g. 810001234567
    CN=<IdNat_PS>/<FAMILY Given>              as on the card; informative
    SN=<FAMILY>, GN=<Given>

Establishment (organisation certificate, "ORG AUTH_CLI") — subject without serialNumber:

    C=FR, O=<name of the structure>, OU=<Struct_IdNat>, CN=<Struct_IdNat>

Extensions: basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage
clientAuth, subject/authority key identifiers. The IdNat_PS is read from ``serialNumber``
only (never parsed out of the CN): a CN is display text.

A test card is one carrying ``OU=TEST``, an IdNat_PS of the test range (``8997…``), or
issued by a CA whose common name starts with ``TEST`` (the ANS test CAs are named
"TEST AC IGC-SANTE …", and so is the CA of ``opendmp pki init``). Production refuses them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from opendmp.domain.actors import CardKind, Professional
from opendmp.domain.errors import InvalidIdentifier, OpenDMPError, Unauthenticated
from opendmp.domain.identifiers import parse_idnat_ps, parse_struct_idnat

log = logging.getLogger("opendmp.auth")

TEST_MARK = "TEST"
CARD_KINDS = frozenset(kind.value for kind in CardKind)

RefusalReason = Literal[
    "malformed",
    "expired",
    "not-yet-valid",
    "untrusted-issuer",
    "revoked",
    "crl-out-of-date",
    "test-card-in-production",
    "not-a-client-certificate",
    "unknown-subject",
    "no-trusted-ca",
]


class CertificateRefused(Unauthenticated):
    """The client certificate does not authenticate anyone; ``reason`` says why."""

    code = "certificate-refused"

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        super().__init__(f"client certificate refused: {reason}{': ' + detail if detail else ''}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CardHolder:
    """A person's card certificate, read according to the profile above."""

    idnat: str
    profession: str | None
    specialty: str | None
    card_kind: CardKind
    organization: str | None
    organization_name: str | None
    name: str | None
    is_test: bool

    def actor(self) -> Professional:
        return Professional(
            idnat=self.idnat,
            profession=self.profession,
            specialty=self.specialty,
            organization=self.organization,
            card_kind=self.card_kind,
            name=self.name,
        )


@dataclass(frozen=True, slots=True)
class Establishment:
    """An organisation certificate: the establishment's software, not a person."""

    struct_idnat: str
    name: str | None
    is_test: bool
    certificate_sha256: str


CertificateSubject = CardHolder | Establishment


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attr.value) for attr in name.get_attributes_for_oid(oid)]


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    found = _values(name, oid)
    return found[0] if found else None


def _issuer_is_test(cert: x509.Certificate) -> bool:
    issuer_cn = _first(cert.issuer, NameOID.COMMON_NAME) or ""
    return issuer_cn.upper().startswith(TEST_MARK)


def _structure_of(units: Sequence[str]) -> str | None:
    for unit in units:
        if unit[:1].isdigit():
            try:
                return parse_struct_idnat(unit).idnat
            except InvalidIdentifier:
                continue
    return None


def read_subject(cert: x509.Certificate) -> CertificateSubject:
    """Map a (verified) certificate to a card holder or an establishment."""
    subject = cert.subject
    units = _values(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    is_test = TEST_MARK in units or _issuer_is_test(cert)
    organization = _structure_of(units)
    organization_name = _first(subject, NameOID.ORGANIZATION_NAME)
    idnat_text = _first(subject, NameOID.SERIAL_NUMBER)
    if idnat_text is None:
        if organization is None:
            raise CertificateRefused("unknown-subject", "neither IdNat_PS nor Struct_IdNat")
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        return Establishment(organization, organization_name, is_test, fingerprint)
    try:
        professional = parse_idnat_ps(idnat_text)
    except InvalidIdentifier as error:
        raise CertificateRefused("unknown-subject", error.message) from None
    kinds = [unit for unit in units if unit in CARD_KINDS]
    card_kind = CardKind(kinds[0]) if kinds else CardKind.CPS
    if card_kind is CardKind.CPE and organization is None:
        raise CertificateRefused("unknown-subject", "a CPE names its structure (OU)")
    title = _first(subject, NameOID.TITLE)
    profession, _, specialty = (title or "").partition("/")
    family = _first(subject, NameOID.SURNAME)
    given = _first(subject, NameOID.GIVEN_NAME)
    name = " ".join(part for part in (family, given) if part) or None
    return CardHolder(
        idnat=professional.idnat,
        profession=profession or None,
        specialty=specialty or None,
        card_kind=card_kind,
        organization=organization,
        organization_name=organization_name,
        name=name,
        is_test=is_test or professional.is_test_card,
    )


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """PEM (one or several) or a single DER certificate.

    cryptography reports bad data as ``ValueError``, except a version field that is
    neither v1 nor v3 (``x509.InvalidVersion``, a plain ``Exception``): both are malformed.
    """
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, x509.InvalidVersion) as error:
        raise CertificateRefused("malformed", str(error)) from None


def _load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    if b"-----BEGIN" not in data:
        return [x509.load_der_x509_crl(data)]
    crls = []
    marker = b"-----END X509 CRL-----"
    for block in data.split(marker)[:-1]:
        crls.append(x509.load_pem_x509_crl(block.strip() + b"\n" + marker + b"\n"))
    return crls


# RFC 5280 / CA-B Forum defaults, except that a card certificate needs no subjectAltName:
# a person is named by the subject DN (IdNat_PS), not by a DNS name or an e-mail address.
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()
_CARD_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class CertificateVerifier:
    """Verifies client certificate chains against the configured CAs and CRLs.

    The CRL file is re-read when its modification time changes, so a CRL refreshed by cron
    applies without a restart. A CRL past its ``nextUpdate`` is still applied (the
    revocations it lists stay true); production refuses every certificate of that CA
    instead, because an out-of-date CRL may be missing recent revocations (fail closed).
    """

    def __init__(
        self,
        ca_file: Path | None,
        crl_file: Path | None = None,
        *,
        production: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.production = production
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._cas: list[x509.Certificate] = []
        if ca_file is not None:
            self._cas = load_certificates(ca_file.read_bytes())
        self._crl_file = crl_file
        self._crl_mtime: float | None = None
        self._crls: list[x509.CertificateRevocationList] = []
        self._reload_crls()

    @property
    def configured(self) -> bool:
        return bool(self._cas)

    def _reload_crls(self) -> None:
        if self._crl_file is None:
            return
        try:
            mtime = os.stat(self._crl_file).st_mtime
        except OSError:
            # A CRL that vanished must not silently turn revocation checking off.
            raise CertificateRefused("crl-out-of-date", "the CRL file cannot be read") from None
        if mtime == self._crl_mtime:
            return
        crls = _load_crls(self._crl_file.read_bytes())
        trusted = []
        for crl in crls:
            ca = self._issuer_of_crl(crl)
            if ca is None or not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
                log.warning("auth.crl.ignored reason=bad-signature-or-unknown-issuer")
                continue
            trusted.append(crl)
        self._crls, self._crl_mtime = trusted, mtime

    def _issuer_of_crl(self, crl: x509.CertificateRevocationList) -> x509.Certificate | None:
        return next((ca for ca in self._cas if ca.subject == crl.issuer), None)

    def _check_revocation(self, chain: Sequence[x509.Certificate], now: dt.datetime) -> None:
        self._reload_crls()
        # Every certificate below the root: the leaf, and intermediates a CA may revoke.
        for cert in chain[:-1]:
            for crl in self._crls:
                if crl.issuer != cert.issuer:
                    continue
                if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                    raise CertificateRefused("revoked")
                next_update = crl.next_update_utc
                if next_update is not None and next_update < now:
                    if self.production:
                        raise CertificateRefused("crl-out-of-date")
                    log.warning("auth.crl.out_of_date")

    def verify(
        self, leaf: x509.Certificate, intermediates: Sequence[x509.Certificate] = ()
    ) -> CertificateSubject:
        """Verify ``leaf`` (with the ``intermediates`` sent along) and map its subject."""
        if not self._cas:
            raise CertificateRefused("no-trusted-ca", "OPENDMP_CLIENT_CA_FILE is not set")
        now = self._clock()
        # Validity first, with its own reason: the library reports it only as a failure.
        if _utc(leaf.not_valid_after_utc) < now:
            raise CertificateRefused("expired")
        if _utc(leaf.not_valid_before_utc) > now:
            raise CertificateRefused("not-yet-valid")
        try:
            eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise CertificateRefused("not-a-client-certificate")
        verifier = (
            PolicyBuilder()
            .store(Store(self._cas))
            .time(now)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_CARD_POLICY)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf, list(intermediates))
        except VerificationError as error:
            log.info("auth.certificate.untrusted detail=%s", error)
            raise CertificateRefused("untrusted-issuer") from None
        self._check_revocation(verified.chain, now)
        subject = read_subject(leaf)
        if self.production and subject.is_test:
            raise CertificateRefused("test-card-in-production")
        return subject

    def verify_pem(self, data: bytes) -> CertificateSubject:
        """Verify a PEM chain (leaf first), as a proxy or the TLS layer hands it over."""
        certs = load_certificates(data)
        return self.verify(certs[0], certs[1:])


def verify_or_refuse(verifier: CertificateVerifier | None, data: bytes) -> CertificateSubject:
    """Verify, turning library surprises into a refusal (never a 500 on hostile input)."""
    if verifier is None:
        raise CertificateRefused("no-trusted-ca", "OPENDMP_CLIENT_CA_FILE is not set")
    try:
        return verifier.verify_pem(data)
    except OpenDMPError:
        raise
    except (ValueError, TypeError) as error:
        raise CertificateRefused("malformed", type(error).__name__) from None
