"""Fuzz client certificate parsing and verification (card and establishment certificates).

Target: ``opendmp.auth.certificates.verify_or_refuse`` with a verifier that trusts a CA
made at start-up, fed the way ``auth.dependencies`` feeds it. The first byte picks how:

* PEM or DER bytes, as the TLS layer hands them over;
* a header value from the proxy (latin-1 text, percent-decoded as the dependency does);
* a certificate correctly issued by the trusted CA whose subject is made of the fuzzed
  attributes (``<attribute byte><UTF-8 value>`` parts separated by NUL), so that the
  verified path and the subject mapping (``read_subject``: IdNat_PS, structure, card
  kind, title) are reached.

A crash is any exception other than ``CertificateRefused`` (an ``Unauthenticated``, 401).

Run: ``python fuzz/certificates.py -runs=1000000 fuzz/corpus/certificates``
(``make fuzz-parsers``).
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fuzz_support import NOW, is_refusal, main

from opendmp.auth import pki
from opendmp.auth.certificates import CertificateVerifier, verify_or_refuse

PEM_OR_DER, HEADER, ISSUED = 0, 1, 2
# The subject attributes a card or an establishment certificate is read from.
ATTRIBUTES = (
    NameOID.COUNTRY_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.TITLE,
    NameOID.SERIAL_NUMBER,
    NameOID.COMMON_NAME,
    NameOID.SURNAME,
    NameOID.GIVEN_NAME,
)
AUTHORITY = pki.make_authority(now=NOW - dt.timedelta(days=1))
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())


def _verifier() -> CertificateVerifier:
    home = Path(tempfile.mkdtemp(prefix="opendmp-fuzz-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    ca_file = home / "ca.pem"
    ca_file.write_bytes(pki.pem(AUTHORITY.certificate))
    return CertificateVerifier(ca_file, clock=lambda: NOW)


VERIFIER = _verifier()


def subject_of(data: bytes) -> x509.Name | None:
    """``<attribute byte><value>`` parts (NUL-separated) as a Name, or None when
    cryptography refuses to build it (a country that is not two letters…): that is the
    harness's input, not a certificate OpenDMP was sent."""
    attributes = []
    for part in data.split(b"\x00"):
        if not part:
            continue
        oid = ATTRIBUTES[part[0] % len(ATTRIBUTES)]
        try:
            attributes.append(x509.NameAttribute(oid, part[1:].decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            return None
    return x509.Name(attributes)


def issued_pem(subject: x509.Name) -> bytes | None:
    """A client certificate for ``subject``, signed by the trusted CA (None if unbuildable)."""
    ca_public = AUTHORITY.certificate.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    try:
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(AUTHORITY.certificate.subject)
            .public_key(LEAF_KEY.public_key())
            .serial_number(1000)
            .not_valid_before(NOW - dt.timedelta(minutes=5))
            .not_valid_after(NOW + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
            )
            .sign(AUTHORITY.key, hashes.SHA256())
        )
    except ValueError:
        return None
    return pki.pem(cert)


def presented(data: bytes) -> bytes | None:
    """The bytes the verifier is given for this input (see the module docstring)."""
    if not data:
        return b""
    mode, rest = data[0] % 3, data[1:]
    if mode == PEM_OR_DER:
        return rest
    if mode == HEADER:
        return urllib.parse.unquote(rest.decode("latin-1")).encode()
    subject = subject_of(rest)
    return issued_pem(subject) if subject is not None else None


def test_one_input(data: bytes) -> None:
    given = presented(data)
    if given is None:
        return
    try:
        verify_or_refuse(VERIFIER, given)
    except Exception as error:
        if not is_refusal(error):
            raise


if __name__ == "__main__":
    main(test_one_input, "cryptography")
