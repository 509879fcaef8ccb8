"""Compact JWS tokens for the token and assertion harnesses, signed by keys made at start-up.

An input becomes a token in one of two ways, chosen by its first byte:

* raw: the rest of the bytes, read as an HTTP header value (latin-1), is the token;
* signed: the rest is ``<header JSON> NUL <payload JSON>`` (any bytes, not only valid
  JSON), signed correctly with ES256, so that the fuzzer reaches what follows signature
  verification: claim types, times, audience, identifiers, access modes.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fuzz_support import split_once
from joserfc.jwk import ECKey

RAW, SIGNED = 0, 1


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    """An ES256 key of the harness: the verifier under test trusts its public half."""

    def __init__(self, kid: str) -> None:
        self.key = ECKey.generate_key("P-256", private=True, parameters={"kid": kid})
        self.kid = kid

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    def sign(self, header: bytes, payload: bytes) -> str:
        signing_input = f"{b64url(header)}.{b64url(payload)}"
        private = self.key.private_key
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{b64url(signature)}"


def token_of(data: bytes, signer: Signer) -> str:
    """The token an input stands for (see the module docstring)."""
    if not data:
        return ""
    mode, rest = data[0] % 2, data[1:]
    if mode == RAW:
        return rest.decode("latin-1")
    header, payload = split_once(rest)
    return signer.sign(header, payload)


def seed(header: dict[str, object], claims: dict[str, object]) -> bytes:
    """A corpus entry of the signed kind (used to write the seed files)."""
    import json

    return bytes([SIGNED]) + json.dumps(header).encode() + b"\x00" + json.dumps(claims).encode()
