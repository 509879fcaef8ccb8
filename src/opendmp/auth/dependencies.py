"""Who is asking: the FastAPI dependency every protected route takes.

``current_actor`` tries, in order:

1. ``Authorization: Bearer <JWT>`` from a trusted issuer (``auth.tokens``);
2. an establishment assertion (``X-DMP-Assertion``) with the establishment's certificate
   (``auth.assertions``);
3. a card certificate alone (``auth.certificates``): from the TLS connection (ASGI TLS
   extension) or, from a trusted proxy only, from ``OPENDMP_CLIENT_CERT_HEADER``.

A credential that is present but wrong is refused; it never falls through to the next
mechanism. Refusals write no audit event: at this point no record is concerned (the
routes audit the refusals that concern one), and an unauthenticated request that could
write to the shared system chain would let anyone serialise the audit trail. They are
logged (code, mechanism, client address; no identity) instead.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from lxml import etree

from opendmp.auth import dev_issuer
from opendmp.auth.actor_kind import note_actor_kind
from opendmp.auth.assertions import VerifiedAssertion, verify_assertion
from opendmp.auth.certificates import (
    CardHolder,
    CertificateSubject,
    CertificateVerifier,
    Establishment,
    load_certificates,
    verify_or_refuse,
)
from opendmp.auth.proxies import TrustedProxies, peer_host
from opendmp.auth.tokens import RemoteKeys, StaticKeys, TokenVerifier, TrustedIssuer
from opendmp.auth.vihf import VihfError, VihfIdentity, authenticate_vihf
from opendmp.config import Mode, Settings
from opendmp.domain.actors import Actor, Professional
from opendmp.domain.errors import AccessDenied, OpenDMPError, Unauthenticated
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity

log = logging.getLogger("opendmp.auth")

Mechanism = Literal["bearer", "assertion", "certificate"]
_SEEN_CACHE_SIZE = 10_000


class InsufficientScope(AccessDenied):
    code = "insufficient-scope"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """The request's authentication context.

    ``scopes`` is None for certificate and assertion mechanisms: IUA scopes restrict what
    a bearer token was delegated for; a card or an establishment answers for itself.
    """

    actor: Actor
    mechanism: Mechanism
    scopes: frozenset[str] | None = None
    assertion_patient_ins: str | None = None
    assertion: VerifiedAssertion | None = None

    def check_patient(self, ins: str) -> None:
        """Refuse a request on another patient than the one the assertion names."""
        if self.mechanism == "assertion" and self.assertion_patient_ins != ins:
            raise AccessDenied(
                "the establishment's assertion names another patient",
                code="assertion-patient-mismatch",
            )


def build_issuers(settings: Settings) -> list[TrustedIssuer]:
    issuers: list[TrustedIssuer] = []
    for entry in settings.oidc_issuers:
        keys = (
            StaticKeys.from_file(entry.jwks_file)
            if entry.jwks_file is not None
            else RemoteKeys(str(entry.jwks_url))
        )
        issuers.append(TrustedIssuer(entry.issuer, entry.audience, keys))
    return issuers


def build_dev_issuer(settings: Settings) -> dev_issuer.DevIssuer:
    key = dev_issuer.load_or_create_key(settings.key_dir, create=True)
    return dev_issuer.DevIssuer(key, base_url=settings.base_url, audience=settings.token_audience)


class Authenticator:
    """Built once per app from the settings (composition root)."""

    def __init__(
        self,
        settings: Settings,
        ctx: ServiceContext,
        *,
        dev: dev_issuer.DevIssuer | None = None,
        certificates: CertificateVerifier | None = None,
    ) -> None:
        self.settings = settings
        self.ctx = ctx
        self.dev = dev
        if self.dev is None and settings.dev_issuer_enabled:
            self.dev = build_dev_issuer(settings)
        issuers = build_issuers(settings)
        if self.dev is not None:
            issuers.append(self.dev.trusted())
        self.tokens = TokenVerifier(issuers)
        if certificates is None and settings.client_ca_file is not None:
            certificates = CertificateVerifier(
                settings.client_ca_file,
                settings.client_crl_file,
                production=settings.mode is Mode.PRODUCTION,
                clock=ctx.clock,
            )
        self.certificates = certificates
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.cert_header = settings.client_cert_header
        self._seen: OrderedDict[tuple[str, str | None], identity.DirectoryEntry | None] = (
            OrderedDict()
        )

    # --- mechanisms ---------------------------------------------------------------------

    def _peer_is_trusted_proxy(self, request: Request) -> bool:
        # The TCP peer, not the client named by X-Forwarded-For (auth.proxies).
        return self.proxies.trusts(peer_host(request))

    def _client_pem(self, request: Request) -> bytes | None:
        """The client certificate chain (PEM): from the TLS connection, or from the header of
        a trusted proxy."""
        tls = (request.scope.get("extensions") or {}).get("tls") or {}
        chain = tls.get("client_cert_chain")
        if chain:
            return "".join(chain).encode()
        if not self.cert_header:
            return None
        value = request.headers.get(self.cert_header)
        if not value:
            return None
        if not self._peer_is_trusted_proxy(request):
            # Anyone can write a header: only the proxy that verified the TLS handshake may.
            raise Unauthenticated(
                "client certificate header from an address that is not a trusted proxy",
                code="untrusted-proxy",
            )
        return urllib.parse.unquote(value).encode()

    def _certificate(self, request: Request) -> CertificateSubject | None:
        pem = self._client_pem(request)
        return None if pem is None else verify_or_refuse(self.certificates, pem)

    async def _register(self, actor: Actor) -> Actor:
        """Register a professional on first sight (with the structure the credential names)
        and complete the actor from the directory (``identity.as_the_directory_knows``)."""
        if not isinstance(actor, Professional):
            return actor
        key = (actor.idnat, actor.organization)
        if key in self._seen:
            self._seen.move_to_end(key)
            entry = self._seen[key]
        else:
            entry = await identity.register_seen_professional(self.ctx, actor)
            self._seen[key] = entry
            if len(self._seen) > _SEEN_CACHE_SIZE:
                self._seen.popitem(last=False)
        return identity.as_the_directory_knows(actor, entry)

    async def _authenticate(self, request: Request) -> AuthContext:
        now = self.ctx.now()
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("only Bearer tokens are accepted", code="invalid-token")
            verified = await self.tokens.verify(token.strip(), now)
            actor = await self._register(verified.actor)
            return AuthContext(actor, "bearer", scopes=verified.scopes)
        assertion = request.headers.get(self.settings.assertion_header)
        subject = self._certificate(request)
        if assertion:
            if not isinstance(subject, Establishment):
                raise Unauthenticated(
                    "an establishment assertion comes with the establishment's certificate",
                    code="establishment-certificate-required",
                )
            checked = await verify_assertion(
                self.ctx, assertion, subject, audience=self.settings.token_audience, now=now
            )
            return AuthContext(
                await self._register(checked.actor),
                "assertion",
                assertion_patient_ins=checked.patient_ins,
                assertion=checked,
            )
        if isinstance(subject, CardHolder):
            return AuthContext(await self._register(subject.actor()), "certificate")
        if isinstance(subject, Establishment):
            raise Unauthenticated(
                "an establishment certificate needs an assertion naming its user",
                code="assertion-required",
            )
        raise Unauthenticated("authentication required", code="authentication-required")

    async def authenticate_vihf(self, request: Request, assertion: etree._Element) -> VihfIdentity:
        """The XDS.b entry point: a VIHF with the client certificate of ``request`` (same
        sources and CA as ``authenticate``), registered through the same cache."""
        try:
            pem = self._client_pem(request)
            chain = load_certificates(pem) if pem is not None else []
        except OpenDMPError as error:  # one kind of refusal for the XDS.b transport
            raise VihfError(error.message, code=error.code) from None
        verified = await authenticate_vihf(
            self.ctx,
            assertion,
            tls_certificate=chain[0] if chain else None,
            tls_intermediates=chain[1:],
            certificates=self.certificates,
            register=self._register,
        )
        note_actor_kind(request, verified.actor.kind)
        return verified

    async def authenticate(self, request: Request) -> AuthContext:
        try:
            auth = await self._authenticate(request)
        except OpenDMPError as error:
            client = request.client.host if request.client else "-"
            log.info("auth.refused code=%s client=%s", error.code, client)
            raise
        note_actor_kind(request, auth.actor.kind)
        return auth


async def current_actor(request: Request) -> AuthContext:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(request)


CurrentAuth = Annotated[AuthContext, Depends(current_actor)]


def require_scope(scope: str) -> Callable[[AuthContext], Awaitable[AuthContext]]:
    """A dependency: the bearer token must carry the IHE IUA ``scope`` (e.g. ``ITI-67``)."""

    async def dependency(auth: CurrentAuth) -> AuthContext:
        if auth.scopes is not None and scope not in auth.scopes:
            raise InsufficientScope(f"the token lacks the scope {scope}")
        return auth

    return dependency
