"""Client certificates: refused chains first, then the card and establishment mappings."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from opendmp.auth import pki
from opendmp.auth.certificates import (
    CardHolder,
    CertificateRefused,
    CertificateVerifier,
    Establishment,
    read_subject,
    verify_or_refuse,
)
from opendmp.domain.actors import CardKind, Professional
from opendmp.domain.errors import InvalidInput
from tests.auth_support import ESTABLISHMENT, GP, NOW, card, idnat

AUTHORITY = pki.make_authority("AC OPENDMP TESTS UNITAIRES", now=NOW - dt.timedelta(days=1))
FOREIGN = pki.make_authority("AC OPENDMP TESTS UNITAIRES", now=NOW - dt.timedelta(days=1))
TEST_AUTHORITY = pki.make_authority(now=NOW - dt.timedelta(days=1))  # "TEST AC OPENDMP"


def verifier(
    tmp_path: Path,
    *authorities: pki.Authority,
    crl: x509.CertificateRevocationList | None = None,
    production: bool = False,
    now: dt.datetime = NOW,
) -> CertificateVerifier:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(b"".join(pki.pem(a.certificate) for a in authorities or (AUTHORITY,)))
    crl_file = None
    if crl is not None:
        crl_file = tmp_path / "ca.crl"
        crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return CertificateVerifier(ca_file, crl_file, production=production, clock=lambda: now)


def refused(v: CertificateVerifier, cert: x509.Certificate) -> str:
    with pytest.raises(CertificateRefused) as caught:
        v.verify(cert)
    assert (caught.value.code, caught.value.http_status) == ("certificate-refused", 401)
    return caught.value.reason


# --- refusals ---------------------------------------------------------------------------


def test_a_card_of_another_ca_is_refused(tmp_path: Path) -> None:
    cert, _ = card(FOREIGN)  # same CA name, other key: a forged lookalike
    assert refused(verifier(tmp_path), cert) == "untrusted-issuer"


def test_an_expired_card_is_refused(tmp_path: Path) -> None:
    cert, _ = card(
        AUTHORITY,
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW - dt.timedelta(seconds=1),
    )
    assert refused(verifier(tmp_path), cert) == "expired"


def test_a_card_not_valid_yet_is_refused(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY, not_before=NOW + dt.timedelta(hours=1))
    assert refused(verifier(tmp_path), cert) == "not-yet-valid"


def test_a_revoked_card_is_refused(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY)
    crl = pki.make_crl(AUTHORITY, [cert.serial_number], now=NOW)
    assert refused(verifier(tmp_path, crl=crl), cert) == "revoked"


def test_a_card_revoked_after_start_is_refused_once_the_crl_file_changes(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY)
    v = verifier(tmp_path, crl=pki.make_crl(AUTHORITY, [], now=NOW))
    assert isinstance(v.verify(cert), CardHolder)
    crl_file = tmp_path / "ca.crl"
    revoked = pki.make_crl(AUTHORITY, [cert.serial_number], now=NOW)
    crl_file.write_bytes(revoked.public_bytes(serialization.Encoding.PEM))
    os.utime(crl_file, (NOW.timestamp() + 60, NOW.timestamp() + 60))
    assert refused(v, cert) == "revoked"


def test_a_crl_signed_by_another_ca_revokes_nothing(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY)
    forged = pki.make_crl(
        pki.Authority(AUTHORITY.certificate, FOREIGN.key), [cert.serial_number], now=NOW
    )
    assert isinstance(verifier(tmp_path, crl=forged).verify(cert), CardHolder)


def test_production_refuses_every_card_of_a_ca_whose_crl_is_out_of_date(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY)
    issued = NOW - dt.timedelta(days=2)
    stale = pki.make_crl(AUTHORITY, [], now=issued, next_update=NOW - dt.timedelta(hours=1))
    assert refused(verifier(tmp_path, crl=stale, production=True), cert) == "crl-out-of-date"
    assert isinstance(verifier(tmp_path, crl=stale).verify(cert), CardHolder)


def test_production_refuses_a_card_flagged_test(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY, test=True)
    assert refused(verifier(tmp_path, production=True), cert) == "test-card-in-production"


def test_production_refuses_a_card_of_a_test_ca(tmp_path: Path) -> None:
    real_looking = "8" + "1000123456" + "7"  # not a 997 test number
    cert, _ = card(TEST_AUTHORITY, who=_valid_rpps(real_looking))
    v = verifier(tmp_path, TEST_AUTHORITY, production=True)
    assert refused(v, cert) == "test-card-in-production"


def test_production_refuses_a_test_rpps_even_from_a_production_ca(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY, who=GP)  # 8997…: a test card number
    assert refused(verifier(tmp_path, production=True), cert) == "test-card-in-production"


def test_a_certificate_without_client_authentication_usage_is_refused(tmp_path: Path) -> None:
    cert, key = card(AUTHORITY)
    server_only = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(AUTHORITY.key, hashes.SHA256())
    )
    assert refused(verifier(tmp_path), server_only) == "not-a-client-certificate"


def test_nothing_is_trusted_without_a_configured_ca() -> None:
    cert, _ = card(AUTHORITY)
    with pytest.raises(CertificateRefused) as caught:
        CertificateVerifier(None).verify(cert)
    assert caught.value.reason == "no-trusted-ca"


def test_malformed_certificate_data_is_refused_not_crashed_on(tmp_path: Path) -> None:
    v = verifier(tmp_path)
    for data in (b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"):
        with pytest.raises(CertificateRefused) as caught:
            verify_or_refuse(v, data)
        assert caught.value.reason == "malformed"


# Found by fuzz/certificates.py: a certificate whose version field is not v1 or v3 made
# cryptography raise x509.InvalidVersion, which is no ValueError: it escaped as a 500.
@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_a_certificate_of_an_unknown_x509_version_is_refused_as_malformed(
    tmp_path: Path, encoding: str
) -> None:
    cert, _ = card(AUTHORITY)
    der = cert.public_bytes(serialization.Encoding.DER)
    v3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2 (v3) at the start of the TBS
    assert der.count(v3) == 1
    bad = der.replace(v3, b"\xa0\x03\x02\x01\x03")
    if encoding == "pem":
        body = base64.encodebytes(bad)
        bad = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateRefused) as caught:
        verify_or_refuse(verifier(tmp_path), bad)
    assert caught.value.reason == "malformed"


def test_a_cpe_card_must_name_its_structure() -> None:
    with pytest.raises(InvalidInput):
        pki.issue_card_files(
            Path("/nonexistent"), idnat=GP, profession="10", name="X Y", kind=CardKind.CPE
        )


# --- mapping ----------------------------------------------------------------------------


def _valid_rpps(candidate: str) -> str:
    from opendmp.domain.identifiers import luhn_check_digit

    return candidate[:11] + str(luhn_check_digit(candidate[1:11]))


def test_a_cps_card_maps_to_the_professional_it_names(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY)
    subject = verifier(tmp_path).verify(cert)
    assert isinstance(subject, CardHolder)
    assert subject.actor() == Professional(
        idnat=GP,
        profession="10",
        specialty="SM54",
        organization=ESTABLISHMENT,
        card_kind=CardKind.CPS,
        name="TESTPRO Dominique",
    )
    assert subject.is_test  # an 8997… number


def test_a_cpe_card_maps_to_an_employee_of_its_structure(tmp_path: Path) -> None:
    cert, _ = card(AUTHORITY, who=idnat(12), kind=CardKind.CPE, profession="CPE", specialty=None)
    subject = verifier(tmp_path).verify(cert)
    assert isinstance(subject, CardHolder)
    assert subject.card_kind is CardKind.CPE
    assert subject.organization == ESTABLISHMENT
    assert subject.specialty is None


def test_an_establishment_certificate_maps_to_its_structure(tmp_path: Path) -> None:
    cert, _ = pki.issue(AUTHORITY, pki.establishment_subject(ESTABLISHMENT, "CH Test"), now=NOW)
    subject = verifier(tmp_path).verify(cert)
    assert isinstance(subject, Establishment)
    assert subject.struct_idnat == ESTABLISHMENT
    assert len(subject.certificate_sha256) == 64


def test_the_idnat_is_read_from_serial_number_never_from_the_common_name() -> None:
    subject = pki.card_subject(
        idnat=GP,
        name="X Y",
        profession="10",
        specialty=None,
        kind=CardKind.CPS,
        organization=None,
        organization_name=None,
        test=False,
    )
    attrs = [a for a in subject if a.oid != x509.NameOID.COMMON_NAME]
    lying_cn = x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{idnat(99)}/X Y")
    cert, _ = pki.issue(AUTHORITY, x509.Name([*attrs, lying_cn]), now=NOW)
    holder = read_subject(cert)
    assert isinstance(holder, CardHolder)
    assert holder.idnat == GP


def test_pki_init_and_issue_card_write_the_files_with_private_keys_0600(tmp_path: Path) -> None:
    files = pki.init_authority(tmp_path)
    assert stat.S_IMODE(os.stat(files.key).st_mode) == 0o600
    issued = pki.issue_card_files(
        tmp_path,
        idnat=GP,
        profession="10",
        specialty="SM54",
        name="TESTPRO Dominique",
        kind=CardKind.CPE,
        organization=ESTABLISHMENT,
    )
    assert issued.certificate.parent == tmp_path / "pki" / "cards"
    assert stat.S_IMODE(os.stat(issued.key).st_mode) == 0o600
    v = CertificateVerifier(files.certificate, clock=lambda: dt.datetime.now(dt.UTC))
    subject = v.verify_pem(issued.certificate.read_bytes())
    assert isinstance(subject, CardHolder)
    assert (subject.idnat, subject.card_kind, subject.organization) == (
        GP,
        CardKind.CPE,
        ESTABLISHMENT,
    )
    assert subject.is_test
    assert pki.init_authority(tmp_path).certificate.read_bytes() == files.certificate.read_bytes()
