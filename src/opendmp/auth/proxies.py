"""Trusted proxies: the one notion of "this peer may speak for the client" (docs/security.md,
"Forwarded headers").

``OPENDMP_TRUSTED_PROXIES`` lists the addresses/CIDRs of the reverse proxies in front of
OpenDMP. Only a TCP peer in that list may

- forward the client's certificate (``OPENDMP_CLIENT_CERT_HEADER``, ``auth.dependencies``);
- name the client's address (``X-Forwarded-For``) and the scheme (``X-Forwarded-Proto``).

Anything else on the host (or the network) is a client like any other: its forwarded headers
are ignored, so it cannot choose the address that the per-address sign-in limit counts.
uvicorn's own handling of those headers is turned off (``proxy_headers=False`` in
``cli.server_options``): its default trusts ``127.0.0.1``, i.e. every local process.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PEER_SCOPE_KEY", "ForwardedHeaders", "TrustedProxies", "peer_host"]

# Where the middleware keeps the TCP peer's address once ``scope["client"]`` is the client's.
PEER_SCOPE_KEY = "opendmp.peer"
_SCHEMES = {"http": "http", "https": "https"}
_WS_SCHEMES = {"http": "ws", "https": "wss"}


class TrustedProxies:
    """The configured proxies; ``trusts(host)`` for one address."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]

    def trusts(self, host: str | None) -> bool:
        if not host or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_of(self, peer: str, forwarded_for: str) -> str:
        """The client's address: walking ``X-Forwarded-For`` from the right (the entry our
        proxy added), the first address that is not itself a trusted proxy. A value that is
        not an IP address stops the walk: the last trusted hop is the client."""
        client = peer
        for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break
            client = hop
            if not self.trusts(hop):
                break
        return client


def peer_host(request: Request) -> str | None:
    """The TCP peer's address (the proxy's when behind one), whatever the client's is."""
    peer = request.scope.get(PEER_SCOPE_KEY) or request.scope.get("client")
    return str(peer[0]) if peer else None


class ForwardedHeaders:
    """ASGI middleware: from a trusted proxy only, ``scope["client"]`` and
    ``scope["scheme"]`` come from ``X-Forwarded-For`` / ``X-Forwarded-Proto``; the peer
    stays in ``scope[PEER_SCOPE_KEY]``. From any other peer the headers change nothing."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            scope[PEER_SCOPE_KEY] = peer
            if peer and self.proxies.trusts(peer[0]):
                self._apply(scope, peer[0])
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope, peer: str) -> None:
        # Repeated header lines are one comma-separated list (RFC 9110 §5.3).
        values: dict[bytes, list[str]] = {b"x-forwarded-for": [], b"x-forwarded-proto": []}
        for name, value in scope["headers"]:
            if name in values:
                values[name].append(value.decode("latin-1"))
        forwarded_for = ",".join(values[b"x-forwarded-for"])
        if forwarded_for:
            scope["client"] = (self.proxies.client_of(peer, forwarded_for), 0)
        proto = ",".join(values[b"x-forwarded-proto"]).split(",")[-1].strip().lower()
        schemes = _WS_SCHEMES if scope["type"] == "websocket" else _SCHEMES
        if proto in schemes:
            scope["scheme"] = schemes[proto]
