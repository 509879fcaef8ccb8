"""Client certificates when ``opendmp serve`` terminates TLS itself.

Uvicorn 0.54 asks for and verifies client certificates (``ssl_cert_reqs``,
``ssl_ca_certs``) but does not put the peer certificate in the ASGI scope: its scope
``extensions`` has no ``tls`` entry. These protocol classes fill in the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``, a list of PEM strings) from the
connection's SSL object, per connection, so that ``auth.dependencies`` reads one place
whatever the server. Python's ``ssl`` only gives the leaf (``getpeercert``), not the chain
the client sent: an intermediate CA must therefore be in ``OPENDMP_CLIENT_CA_FILE``.

Behind a reverse proxy none of this applies: the proxy sends the certificate in
``OPENDMP_CLIENT_CERT_HEADER``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def _tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    return {
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)],
        "client_cert_name": None,
        "client_cert_error": None,
        "server_cert": None,
        "tls_version": None,
        "cipher_suite": None,
    }


def with_tls_extension(app: Any, tls: dict[str, Any]) -> Any:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in {"http", "websocket"}:
            extensions = {**(scope.get("extensions") or {}), "tls": tls}
            scope = {**scope, "extensions": extensions}
        await app(scope, receive, send)

    return wrapped


class ClientCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus the ASGI TLS extension carrying the client certificate."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = _tls_extension(transport)
        if tls is not None:
            self.app = with_tls_extension(self.app, tls)


def uvicorn_tls_options(ca_file: str) -> dict[str, Any]:
    """Options for ``uvicorn.run``: ask for a client certificate, verify it against the CAs."""
    return {
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "ssl_ca_certs": ca_file,
        "http": ClientCertH11Protocol,
    }
