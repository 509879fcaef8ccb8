"""Bearer JWTs from trusted OpenID Connect issuers (Pro Santé Connect-like) -> actors.

Checks, in order: size and shape; algorithm (RS256, ES256, PS256 only: ``none`` and HMAC
are refused before any key is looked at, which also defeats "HS256 signed with the
issuer's public key"); issuer (configured, or the development issuer); signature against
the issuer's JWKS; ``exp`` (required), ``nbf`` and ``iat`` with 60 s of clock skew; audience.

Claims of a professional token: ``sub`` or ``idnat`` (IdNat_PS), ``profession``,
``specialty``, ``organization`` (Struct_IdNat), ``card_kind`` (CPS|CPE|CPA), ``name``,
``purpose`` (normal|break-glass|regulation) and ``reason`` (the justification a break-glass
access needs), ``scope`` (IHE IUA: space-separated transactions, e.g. ``ITI-65 ITI-67``).
A patient token has ``kind: patient`` and ``sub`` = ``"OID|VALUE"`` of the INS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from opendmp.domain.actors import AccessMode, Actor, CardKind, Patient, Professional
from opendmp.domain.errors import AccessDenied, InvalidIdentifier, Unauthenticated
from opendmp.domain.identifiers import parse_idnat_ps, parse_ins_reference, parse_struct_idnat

log = logging.getLogger("opendmp.auth")

ALLOWED_ALGORITHMS = ("RS256", "ES256", "PS256")
CLOCK_SKEW = dt.timedelta(seconds=60)
MAX_TOKEN_BYTES = 16 * 1024
VERIFIED_CACHE_SIZE = 10_000
VERIFIED_CACHE_SECONDS = 300.0


def invalid(message: str, code: str = "invalid-token") -> Unauthenticated:
    return Unauthenticated(message, code=code)


class KeySource(Protocol):
    async def keyset(self, kid: str | None) -> KeySet: ...


@dataclass(frozen=True)
class StaticKeys:
    """A JWKS known in advance (a file, or the development issuer's own key)."""

    keys: KeySet

    @classmethod
    def from_file(cls, path: Path) -> StaticKeys:
        return cls(KeySet.import_key_set(json.loads(path.read_text())))

    async def keyset(self, kid: str | None) -> KeySet:
        return self.keys


class RemoteKeys:
    """A JWKS fetched over HTTPS, cached for an hour and refetched (at most once a minute)
    when a token names a key id it does not hold: issuers rotate keys without notice."""

    def __init__(self, url: str, *, ttl: float = 3600, min_refresh: float = 60) -> None:
        parsed = urllib.parse.urlsplit(url)
        local = parsed.hostname in {"localhost", "127.0.0.1", "::1"}
        if parsed.scheme != "https" and not (parsed.scheme == "http" and local):
            raise ValueError(f"JWKS URL must be https: {url}")
        self.url, self.ttl, self.min_refresh = url, ttl, min_refresh
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    def _fetch(self) -> KeySet:
        # The scheme is checked in __init__ (https, or http on loopback only).
        with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310
            return KeySet.import_key_set(json.loads(response.read(1024 * 1024)))

    def _knows(self, kid: str | None) -> bool:
        return self._keys is not None and (
            kid is None or any(key.kid == kid for key in self._keys.keys)
        )

    async def keyset(self, kid: str | None) -> KeySet:
        async with self._lock:
            age = time.monotonic() - self._fetched
            stale = self._keys is None or age > self.ttl
            if stale or (not self._knows(kid) and age > self.min_refresh):
                try:
                    self._keys = await asyncio.to_thread(self._fetch)
                    self._fetched = time.monotonic()
                except (OSError, ValueError, JoseError):
                    log.warning("auth.jwks.fetch_failed url=%s", self.url)
                    if self._keys is None:
                        raise invalid("the issuer's keys are unavailable") from None
            assert self._keys is not None
            return self._keys


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    audience: str
    keys: KeySource


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    actor: Actor
    scopes: frozenset[str]
    issuer: str
    claims: Mapping[str, Any]


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(token) > MAX_TOKEN_BYTES:
        raise invalid("token too large")
    if token.count(".") != 2:
        raise invalid("not a compact JWS")
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError):
        raise invalid("token cannot be decoded") from None
    if not isinstance(claims, dict):
        raise invalid("token payload is not a JSON object")
    return dict(compact.headers()), claims


def check_algorithm(header: Mapping[str, Any]) -> None:
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise invalid(f"algorithm {alg!r} is not allowed (RS256, ES256, PS256)")


# A claimed time later than this cannot take the clock skew added to it (datetime.max is
# 9999-12-31): refused like any other unreadable claim.
LATEST_TIME = dt.datetime.max.replace(tzinfo=dt.UTC) - dt.timedelta(days=1)


def numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> dt.datetime | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise invalid(f"token has no '{name}' claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"claim '{name}' is not a number")
    try:
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, ValueError, OSError):  # beyond year 9999, NaN, or the platform's
        raise invalid(f"claim '{name}' is out of range", code="token-time-out-of-range") from None
    if moment > LATEST_TIME:
        raise invalid(f"claim '{name}' is out of range", code="token-time-out-of-range")
    return moment


def check_times(
    claims: Mapping[str, Any], now: dt.datetime, *, prefix: str = "token"
) -> dt.datetime:
    """Check ``exp`` (required), ``nbf``, ``iat`` with the clock skew; return ``exp``."""
    expires = numeric_date(claims, "exp", required=True)
    assert expires is not None
    if now > expires + CLOCK_SKEW:
        raise invalid(f"{prefix} expired", code=f"{prefix}-expired")
    for name in ("nbf", "iat"):
        moment = numeric_date(claims, name, required=False)
        if moment is not None and moment > now + CLOCK_SKEW:
            raise invalid(f"{prefix} is not valid yet ('{name}')", code=f"{prefix}-not-yet-valid")
    return expires


def check_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise invalid("token is meant for another audience", code="wrong-audience")


def text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise invalid(f"claim '{name}' is not a short string")
    return value.strip() or None


def access_mode(purpose: str | None, reason: str | None) -> tuple[AccessMode, str | None]:
    """The access mode a credential asks for; break-glass needs a written justification."""
    try:
        mode = AccessMode(purpose or AccessMode.NORMAL.value)
    except ValueError:
        raise invalid(f"purpose {purpose!r} is not normal, break-glass or regulation") from None
    justification = reason.strip() if reason else None
    if mode is AccessMode.BREAK_GLASS and not justification:
        # CSP R1111-45: an emergency access is justified in writing, before the access.
        raise AccessDenied(
            "a break-glass access needs a justification", code="justification-required"
        )
    return mode, justification


def professional_from_claims(
    claims: Mapping[str, Any], *, idnat: str | None = None
) -> Professional:
    raw_idnat = idnat or text_claim(claims, "idnat") or text_claim(claims, "sub")
    if raw_idnat is None:
        raise invalid("no IdNat_PS in the credential")
    try:
        parsed = parse_idnat_ps(raw_idnat)
        organization = text_claim(claims, "organization")
        if organization is not None:
            organization = parse_struct_idnat(organization).idnat
    except InvalidIdentifier as error:
        raise invalid(error.message) from None
    try:
        card_kind = CardKind(text_claim(claims, "card_kind") or CardKind.CPS.value)
    except ValueError:
        raise invalid("card_kind is not CPS, CPE or CPA") from None
    mode, justification = access_mode(text_claim(claims, "purpose"), text_claim(claims, "reason"))
    return Professional(
        idnat=parsed.idnat,
        profession=text_claim(claims, "profession"),
        specialty=text_claim(claims, "specialty"),
        organization=organization,
        card_kind=card_kind,
        name=text_claim(claims, "name"),
        access_mode=mode,
        justification=justification,
    )


def actor_from_claims(claims: Mapping[str, Any]) -> Actor:
    if claims.get("kind") == "patient":
        sub = text_claim(claims, "sub")
        if sub is None or "|" not in sub:
            raise invalid("a patient token's sub is the INS as OID|VALUE")
        try:
            ins = parse_ins_reference(sub, "")
        except InvalidIdentifier as error:
            raise invalid(error.message) from None
        return Patient(ins=str(ins), name=text_claim(claims, "name"))
    return professional_from_claims(claims)


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(str(item) for item in scp)
    return frozenset()


class TokenVerifier:
    """Verify bearer tokens; a verified token is remembered for a while (see ``verify``)."""

    def __init__(
        self,
        issuers: list[TrustedIssuer],
        *,
        cache_size: int = VERIFIED_CACHE_SIZE,
        cache_seconds: float = VERIFIED_CACHE_SECONDS,
    ) -> None:
        self.issuers = {issuer.issuer: issuer for issuer in issuers}
        self.cache_size, self.cache_seconds = cache_size, cache_seconds
        self._verified: OrderedDict[str, tuple[float, VerifiedToken]] = OrderedDict()

    async def verify(self, token: str, now: dt.datetime) -> VerifiedToken:
        """The token's actor and scopes, or ``Unauthenticated``.

        A client sends the same token on every request until it expires, and checking its
        signature (RSA/ECDSA, plus JSON and claims parsing) was the largest part of
        authenticating a request. A token that verified is therefore kept, keyed by its
        exact text, for at most ``cache_seconds`` (so a key withdrawn from an issuer's JWKS
        stops being honoured soon after) in a bounded LRU; its times are checked again on
        every use, so it still expires on time.
        """
        cached = self._verified.get(token)
        if cached is not None:
            stored_at, verified = cached
            if time.monotonic() - stored_at <= self.cache_seconds:
                check_times(verified.claims, now)
                self._verified.move_to_end(token)
                return verified
            del self._verified[token]
        verified = await self._verify(token, now)
        self._verified[token] = (time.monotonic(), verified)
        if len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)
        return verified

    async def _verify(self, token: str, now: dt.datetime) -> VerifiedToken:
        header, unverified = decode_unverified(token)
        check_algorithm(header)
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise invalid("token issuer is not trusted", code="unknown-issuer")
        kid = header.get("kid")
        keys = await issuer.keys.keyset(kid if isinstance(kid, str) else None)
        try:
            claims = dict(jwt.decode(token, keys, algorithms=ALLOWED_ALGORITHMS).claims)
        except (JoseError, ValueError):
            raise invalid("token signature does not verify") from None
        check_times(claims, now)
        check_audience(claims, issuer.audience)
        return VerifiedToken(actor_from_claims(claims), scopes_of(claims), issuer.issuer, claims)
