"""Test helpers for authentication: issuers with keys, cards, establishment assertions."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from opendmp.auth import pki
from opendmp.auth.tokens import StaticKeys, TrustedIssuer
from opendmp.domain.actors import CardKind
from opendmp.domain.identifiers import luhn_check_digit

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
AUDIENCE = "https://dmp.test"
PSC_ISSUER = "https://psc.test/auth/realms/esante-wallet"


def idnat(n: int) -> str:
    body = f"997000{n:04d}"
    return "8" + body + str(luhn_check_digit(body))


def finess_struct(n: int) -> str:
    body = f"7500{n:04d}"  # 8 digits + Luhn key = a FINESS
    return "1" + body + str(luhn_check_digit(body))


GP = idnat(11)
ESTABLISHMENT = finess_struct(1)
OTHER_ESTABLISHMENT = finess_struct(2)


class Issuer:
    """An OIDC issuer with its signing key, minting tokens as a test needs them."""

    def __init__(self, alg: str = "RS256", issuer: str = PSC_ISSUER) -> None:
        self.alg = alg
        self.issuer = issuer
        if alg == "ES256":
            self.key: ECKey | RSAKey = ECKey.generate_key("P-256", private=True, auto_kid=True)
        else:
            self.key = RSAKey.generate_key(2048, private=True, auto_kid=True)

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def trusted(self, audience: str = AUDIENCE) -> TrustedIssuer:
        return TrustedIssuer(
            self.issuer,
            audience,
            StaticKeys(KeySet.import_key_set(self.public_jwks())),  # type: ignore[arg-type]
        )

    def claims(self, now: dt.datetime = NOW, **overrides: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": GP,
            "profession": "10",
            "specialty": "SM54",
            "organization": ESTABLISHMENT,
            "name": "TESTPRO Dominique",
            "iat": int(now.timestamp()),
            "exp": int((now + dt.timedelta(minutes=10)).timestamp()),
            "scope": "ITI-65 ITI-67 ITI-68",
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, now: dt.datetime = NOW, *, key: Any = None, **overrides: Any) -> str:
        header = {"alg": self.alg, "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(
            header, self.claims(now, **overrides), key or self.key, algorithms=[self.alg]
        )


def card(
    authority: pki.Authority,
    *,
    who: str = GP,
    kind: CardKind = CardKind.CPS,
    organization: str | None = ESTABLISHMENT,
    profession: str = "10",
    specialty: str | None = "SM54",
    test: bool = False,
    now: dt.datetime = NOW,
    **issue: Any,
) -> tuple[Any, Any]:
    subject = pki.card_subject(
        idnat=who,
        name="TESTPRO Dominique",
        profession=profession,
        specialty=specialty,
        kind=kind,
        organization=organization,
        organization_name="Centre de test",
        test=test,
    )
    return pki.issue(authority, subject, now=now, **issue)


class Establishment:
    """An establishment's software: its certificate and the key it signs assertions with."""

    def __init__(
        self,
        authority: pki.Authority,
        struct_idnat: str = ESTABLISHMENT,
        *,
        now: dt.datetime = NOW,
    ) -> None:
        self.struct_idnat = struct_idnat
        self.cert, _ = pki.issue(
            authority, pki.establishment_subject(struct_idnat, "Centre de test"), now=now
        )
        self.key = ECKey.generate_key("P-256", private=True, auto_kid=True)

    def public_jwk(self) -> dict[str, Any]:
        return self.key.as_dict(private=False)

    def vihf(self, now: dt.datetime = NOW, **overrides: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.struct_idnat,
            "aud": "opendmp",
            "sector": "SA01",
            "sub": GP,
            "name": "TESTPRO Dominique",
            "role": "10/SM54",
            "auth_context": "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
            "purpose": "normal",
            "patient_ins": None,
            "software_name": "TestDPI",
            "software_version": "1.0",
            "homologation": "HOMOL-TEST-0001",
            "iat": int(now.timestamp()),
            "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def assertion(
        self, now: dt.datetime = NOW, *, key: ECKey | None = None, **overrides: Any
    ) -> str:
        signer = key or self.key
        header = {"alg": "ES256", "kid": signer.kid, "typ": "JWT"}
        return jwt.encode(header, self.vihf(now, **overrides), signer, algorithms=["ES256"])


# The trusted Pro Santé Connect issuer of the app fixtures (tests/conftest.py).
PSC = Issuer("PS256")


CERT_HEADER = "X-SSL-Client-Cert"  # the proxy's header carrying the client certificate


def credential_settings(home: Path, authority: pki.Authority, proxies: str) -> dict[str, Any]:
    """Settings (``app_settings_overrides`` of tests/conftest.py) of an app that also trusts
    the development issuer, ``authority``'s cards and the certificate header of ``proxies``."""
    ca_file = home / "ca.pem"
    ca_file.write_bytes(pki.pem(authority.certificate))
    return {
        "dev_issuer": True,
        "client_ca_file": ca_file,
        "client_cert_header": CERT_HEADER,
        "trusted_proxies": proxies,
    }
