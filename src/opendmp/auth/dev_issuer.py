"""The built-in development issuer: bearer tokens for scripts, demos and tests.

An ES256 key in ``OPENDMP_HOME/keys/dev-issuer.jwk`` (0600), issuer
``<base_url>/dev-issuer``, JWKS served at ``/dev-issuer/jwks.json``. On only with
``OPENDMP_DEV_ISSUER=true`` or in demo mode; never in production (settings refuse it).
``opendmp token professional|patient`` prints its tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from opendmp.auth.tokens import StaticKeys, TrustedIssuer, access_mode
from opendmp.domain.errors import ConfigurationError, InvalidInput
from opendmp.domain.identifiers import parse_idnat_ps, parse_ins_reference, parse_struct_idnat
from opendmp.storage.private_files import make_private_dir

KEY_FILE = "dev-issuer.jwk"
PATH = "/dev-issuer"
JWKS_PATH = f"{PATH}/jwks.json"
# IHE MHD (ITI-65/66/67/68), PDQm (ITI-78), RESTful ATNA (ITI-81, AuditEvent search) and
# PCF (ITI-108, Consent): everything OpenDMP serves.
DEFAULT_SCOPES = "ITI-65 ITI-66 ITI-67 ITI-68 ITI-78 ITI-81 ITI-108"
MAX_TTL = dt.timedelta(hours=12)
_TTL_RE = re.compile(r"^\s*(\d+)\s*([smh]?)\s*$")


def issuer_url(base_url: str) -> str:
    return base_url.rstrip("/") + PATH


def parse_ttl(text: str) -> dt.timedelta:
    """``90s``, ``10m``, ``2h`` (a bare number is seconds); at most 12 hours."""
    match = _TTL_RE.match(text)
    if match is None:
        raise InvalidInput(f"TTL {text!r} is not like 90s, 10m or 2h", code="invalid-ttl")
    number, unit = int(match.group(1)), match.group(2) or "s"
    ttl = dt.timedelta(seconds=number * {"s": 1, "m": 60, "h": 3600}[unit])
    if not dt.timedelta(0) < ttl <= MAX_TTL:
        raise InvalidInput("TTL must be between 1 s and 12 h", code="invalid-ttl")
    return ttl


def load_or_create_key(key_dir: Path, *, create: bool = True) -> ECKey:
    path = key_dir / KEY_FILE
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text()))
    if not create:
        raise ConfigurationError(
            f"no development issuer key in {key_dir}", code="dev-issuer-key-missing"
        )
    key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    make_private_dir(key_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(key.as_dict(private=True), handle)
    return key


class DevIssuer:
    def __init__(self, key: ECKey, *, base_url: str, audience: str) -> None:
        self.key = key
        self.issuer = issuer_url(base_url)
        self.audience = audience

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def trusted(self) -> TrustedIssuer:
        public = KeySet([ECKey.import_key(self.key.as_dict(private=False))])
        return TrustedIssuer(self.issuer, self.audience, StaticKeys(public))

    def sign(self, claims: Mapping[str, Any], *, now: dt.datetime, ttl: dt.timedelta) -> str:
        body = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            **{k: v for k, v in claims.items() if v is not None},
        }
        header = {"alg": "ES256", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, body, self.key, algorithms=["ES256"])

    def professional_token(
        self,
        *,
        idnat: str,
        now: dt.datetime,
        ttl: dt.timedelta,
        profession: str | None = None,
        specialty: str | None = None,
        organization: str | None = None,
        card_kind: str | None = None,
        name: str | None = None,
        purpose: str = "normal",
        reason: str | None = None,
        scope: str = DEFAULT_SCOPES,
    ) -> str:
        # Same checks as on arrival: a token the server would refuse is not worth printing.
        parsed = parse_idnat_ps(idnat)
        structure = parse_struct_idnat(organization).idnat if organization else None
        access_mode(purpose, reason)
        claims = {
            "sub": parsed.idnat,
            "idnat": parsed.idnat,
            "profession": profession,
            "specialty": specialty,
            "organization": structure,
            "card_kind": card_kind,
            "name": name,
            "purpose": purpose,
            "reason": reason,
            "scope": scope,
        }
        return self.sign(claims, now=now, ttl=ttl)

    def patient_token(
        self, *, ins: str, default_oid: str, now: dt.datetime, ttl: dt.timedelta
    ) -> str:
        parsed = parse_ins_reference(ins, default_oid)
        claims = {"sub": str(parsed), "kind": "patient", "scope": DEFAULT_SCOPES}
        return self.sign(claims, now=now, ttl=ttl)
