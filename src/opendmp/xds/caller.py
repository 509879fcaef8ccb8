"""Who is calling an XDS.b transaction: the VIHF of the request's ``wsse:Security`` header,
verified by auth/vihf.py through ``Authenticator.authenticate_vihf`` (docs/xds.md,
"Authentication").

Every handler starts with ``identity = await caller(call)``. Indirect authentication: the
establishment-signed VIHF alone. Direct authentication: the CPS card certificate of the TLS
session (or of a trusted proxy's header, as for the FHIR API) goes with the VIHF, whose
NameID must be the card's. The actor is the one the FHIR API would build (same directory
registration). A refusal is an ``OpenDMPError`` (401, its stable code) that the router answers
with a Sender fault; it is logged with its code and the client's address only, as the FHIR
API logs its refusals.
"""

from __future__ import annotations

import logging

from opendmp.auth.dependencies import Authenticator
from opendmp.auth.vihf import VihfError, VihfIdentity, find_assertion
from opendmp.domain.errors import OpenDMPError
from opendmp.xds.api import XdsCall

log = logging.getLogger("opendmp.auth")

__all__ = ["VihfIdentity", "caller"]


async def _authenticate(call: XdsCall) -> VihfIdentity:
    if call.soap.security is None:
        raise VihfError(
            "an XDS.b request carries its VIHF in a wsse:Security header", code="vihf-missing"
        )
    authenticator: Authenticator = call.request.app.state.authenticator
    return await authenticator.authenticate_vihf(call.request, find_assertion(call.soap.security))


async def caller(call: XdsCall) -> VihfIdentity:
    """The authenticated caller (actor + VIHF) of ``call``, or an ``OpenDMPError`` (401)."""
    try:
        return await _authenticate(call)
    except OpenDMPError as error:
        client = call.request.client.host if call.request.client else "-"
        log.info("auth.refused code=%s mechanism=vihf client=%s", error.code, client)
        raise
