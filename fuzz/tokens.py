"""Fuzz bearer token verification (OpenID Connect JWTs from a trusted issuer).

Target: ``opendmp.auth.tokens.TokenVerifier.verify`` (compact JWS decoding, algorithm,
issuer, ES256 signature against the issuer's keys, times, audience, then the actor and
scopes read from the claims). Inputs are raw header values or tokens correctly signed by
the trusted issuer's key over fuzzed header and payload bytes (see ``fuzz_jwt``).
A crash is any exception other than ``Unauthenticated`` (401: ``invalid-token``,
``token-expired``, ``wrong-audience``…) or ``AccessDenied`` (403:
``justification-required``, a break-glass token without its reason).

Run: ``python fuzz/tokens.py -runs=1000000 fuzz/corpus/tokens`` (``make fuzz-parsers``).
"""

from __future__ import annotations

import asyncio

from fuzz_jwt import Signer, token_of
from fuzz_support import NOW, is_refusal, main
from joserfc.jwk import KeySet

from opendmp.auth.tokens import StaticKeys, TokenVerifier, TrustedIssuer

ISSUER = "https://psc.test/auth/realms/esante-wallet"
AUDIENCE = "https://dmp.test"
SIGNER = Signer("fuzz-issuer-key")
VERIFIER = TokenVerifier(
    [
        TrustedIssuer(
            ISSUER, AUDIENCE, StaticKeys(KeySet.import_key_set({"keys": [SIGNER.public_jwk()]}))
        )
    ],
    cache_size=8,
)
LOOP = asyncio.new_event_loop()


def test_one_input(data: bytes) -> None:
    token = token_of(data, SIGNER).strip()
    try:
        LOOP.run_until_complete(VERIFIER.verify(token, NOW))
    except Exception as error:
        if not is_refusal(error):
            raise


if __name__ == "__main__":
    main(test_one_input, "joserfc", "fuzz_jwt")
