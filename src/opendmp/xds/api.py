"""The XDS.b SOAP endpoints (docs/xds.md): ``POST /xds/iti41|iti18|iti43|iti57``, their WSDL
at ``GET <path>?wsdl`` and the schemas it imports under ``/xds/schema/``.

The transport is the same for every transaction: bounded body, MTOM or plain SOAP 1.2
(``xds/soap.py``, ``xds/mtom.py``), ``wsa:Action`` checked against the path, then the handler
registered for that action in ``HANDLERS`` answers with a ``SoapReply``. Under ``/xds`` every
answer is SOAP: a request at fault gets a Sender fault; an OpenDMP error its fault; an
exception nobody expected a Receiver fault naming an incident number, logged without the
exception's message (it may hold health data), never a bare 500 page (``XdsUnexpectedErrors``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request, Response
from lxml import etree
from starlette.types import Scope

from opendmp.asgi import LastLine, log_incident
from opendmp.audit.writer import VIA_TRANSACTION
from opendmp.domain.errors import OpenDMPError
from opendmp.domain.limits import LimitExceeded
from opendmp.services.core.context import ServiceContext
from opendmp.storage.availability import DATABASE_UNAVAILABLE, is_database_unavailable
from opendmp.xds import namespaces as ns
from opendmp.xds.envelope import SOAP_MEDIA_TYPE, envelope, qname, serialize
from opendmp.xds.faults import (
    ACTION_NOT_SUPPORTED,
    FaultCode,
    SoapFault,
    fault_envelope,
    from_error,
    sender,
)
from opendmp.xds.mtom import mtom_body
from opendmp.xds.soap import SoapReply, SoapRequest, parse_request
from opendmp.xds.transactions import BY_ACTION, TRANSACTIONS, Transaction

log = logging.getLogger("opendmp.xds")

PREFIX = "/xds"
SCHEMA_PREFIX = f"{PREFIX}/schema/"
_SOAP_CONTENT_TYPE = f"{SOAP_MEDIA_TYPE}; charset=utf-8"
_XML_CONTENT_TYPE = "text/xml; charset=utf-8"

router = APIRouter(include_in_schema=False)  # SOAP: described by its WSDL, not OpenAPI


@dataclass(frozen=True, slots=True)
class XdsCall:
    """What a handler receives: the transaction, the parsed request, the services' context
    and the HTTP request (for the caller's TLS certificate: ``xds.caller.caller``)."""

    transaction: Transaction
    soap: SoapRequest
    ctx: ServiceContext
    request: Request


Handler = Callable[[XdsCall], Awaitable[SoapReply]]

# wsa:Action of the request -> its handler. The transaction modules fill it; an action with
# no handler is answered with a Sender fault "action not supported".
HANDLERS: dict[str, Handler] = {}


def is_xds_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


# --- POST: the SOAP exchange ----------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _body_too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _body_too_large(limit)
    return bytes(body)


def _body_too_large(limit: int) -> LimitExceeded:
    return LimitExceeded(
        f"the request body exceeds {limit} bytes (OPENDMP_MAX_REQUEST_BYTES)",
        code="request-too-large",
        http_status=413,
    )


def _handler_for(tx: Transaction, action: str) -> Handler:
    target = BY_ACTION.get(action)
    if target is None:
        raise SoapFault(
            FaultCode.SENDER,
            f"action not supported: {action[:200]}",
            subcode=ACTION_NOT_SUPPORTED,
        )
    if target is not tx:
        raise SoapFault(
            FaultCode.SENDER,
            f"action not supported at {tx.path}: {target.name} is answered at {target.path}",
            subcode=ACTION_NOT_SUPPORTED,
        )
    handler = HANDLERS.get(action)
    if handler is None:
        raise SoapFault(
            FaultCode.SENDER,
            f"action not supported: {tx.name} is not available on this server yet",
            subcode=ACTION_NOT_SUPPORTED,
        )
    return handler


def answer(reply: SoapReply, tx: Transaction, relates_to: str | None) -> Response:
    """The HTTP response of a handler's reply: SOAP 1.2, MTOM when it has attachments."""
    env = serialize(envelope(reply.body, action=tx.response_action, relates_to=relates_to))
    if not reply.attachments:
        return Response(env, media_type=_SOAP_CONTENT_TYPE)
    body, content_type = mtom_body(env, reply.attachments)
    return Response(body, headers={"Content-Type": content_type})


async def _exchange(request: Request, tx: Transaction) -> Response:
    ctx: ServiceContext = request.app.state.runtime.ctx
    body = await read_body(request, ctx.limits.max_request_bytes)
    soap = parse_request(body, request.headers.get("content-type", ""), ctx.limits)
    via = VIA_TRANSACTION.set(tx.name)  # the audit events name ITI-41/18/43/57
    try:
        reply = await _handler_for(tx, soap.action)(XdsCall(tx, soap, ctx, request))
    except SoapFault as fault:
        fault.relates_to = fault.relates_to or soap.message_id
        raise
    except OpenDMPError as exc:
        converted = from_error(exc)
        converted.relates_to = soap.message_id
        raise converted from None
    finally:
        VIA_TRANSACTION.reset(via)
    return answer(reply, tx, soap.message_id)


def fault_response(fault: SoapFault) -> Response:
    headers = {}
    if fault.retry_after:
        headers["Retry-After"] = str(int(fault.retry_after))
    return Response(
        fault_envelope(fault),
        status_code=fault.http_status,
        media_type=_SOAP_CONTENT_TYPE,
        headers=headers,
    )


def unexpected_fault(exc: BaseException, scope: Scope) -> SoapFault:
    """The Receiver fault of an exception nobody expected: 503 when the database is out of
    reach, else 500 naming an incident; the log gets the incident, the route, the exception's
    type and its stack (code lines only: never its message nor local values)."""
    if is_database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return from_error(DATABASE_UNAVAILABLE)
    incident = log_incident(log, exc, scope)
    return SoapFault(FaultCode.RECEIVER, f"internal error (incident {incident})")


def _post_endpoint(tx: Transaction) -> Callable[[Request], Awaitable[Response]]:
    async def post(request: Request) -> Response:
        try:
            return await _exchange(request, tx)
        except SoapFault as fault:
            return fault_response(fault)
        except OpenDMPError as exc:
            return fault_response(from_error(exc))
        except Exception as exc:  # the last line: a Receiver fault, never a bare 500
            return fault_response(unexpected_fault(exc, request.scope))

    post.__name__ = f"xds_{tx.name.replace('-', '').lower()}"
    return post


# --- GET: WSDL and schemas ------------------------------------------------------------

_WSDL_PACKAGE = resources.files("opendmp.xds") / "wsdl"


@lru_cache(maxsize=16)
def _packaged(relative: str) -> bytes:
    return (_WSDL_PACKAGE / relative).read_bytes()


def _schema_files() -> frozenset[str]:
    """Every XSD under xds/wsdl/schema/, as its path relative to that folder."""
    found: set[str] = set()
    pending = [(_WSDL_PACKAGE / "schema", "")]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((entry, f"{prefix}{entry.name}/"))
            elif entry.name.endswith(".xsd"):
                found.add(prefix + entry.name)
    return frozenset(found)


SCHEMAS = _schema_files()


def wsdl_document(tx: Transaction, location: str) -> bytes:
    """The transaction's WSDL with ``soap12:address/@location`` = ``location`` (relative
    schema locations stay relative: they resolve under ``/xds/schema/``)."""
    root = etree.fromstring(_packaged(tx.wsdl))  # our own packaged file, not input
    for address in root.iter(qname(ns.WSDL_SOAP12, "address")):
        address.set("location", location)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _asks_wsdl(request: Request) -> bool:
    return any(key.lower() == "wsdl" for key in request.query_params)


def _get_endpoint(tx: Transaction) -> Callable[[Request], Awaitable[Response]]:
    async def get(request: Request) -> Response:
        if not _asks_wsdl(request):
            return fault_response(
                sender(f"POST a SOAP 1.2 request to {tx.path}, or GET {tx.path}?wsdl", "not-soap")
            )
        # The server's own URL as the caller reached it: scheme from a trusted proxy's
        # X-Forwarded-Proto (auth/proxies.py), host from the Host header.
        location = str(request.base_url).rstrip("/") + tx.path
        return Response(wsdl_document(tx, location), media_type=_XML_CONTENT_TYPE)

    get.__name__ = f"xds_{tx.name.replace('-', '').lower()}_wsdl"
    return get


for _tx in TRANSACTIONS:
    router.add_api_route(_tx.path, _post_endpoint(_tx), methods=["POST"])
    router.add_api_route(_tx.path, _get_endpoint(_tx), methods=["GET"])


@router.get(SCHEMA_PREFIX + "{name:path}")
async def xds_schema(name: str) -> Response:
    if name not in SCHEMAS:
        return fault_response(sender("no such schema", "not-found", http_status=404))
    return Response(_packaged("schema/" + name), media_type=_XML_CONTENT_TYPE)


_KNOWN_PATHS = frozenset(tx.path for tx in TRANSACTIONS)
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route(PREFIX, methods=_ALL_METHODS)
@router.api_route(PREFIX + "/{rest:path}", methods=_ALL_METHODS)
async def xds_elsewhere(request: Request) -> Response:
    """Anything else under /xds: a Sender fault (405 on a known path, else 404)."""
    if request.url.path in _KNOWN_PATHS:
        fault = sender(
            f"method {request.method} not allowed here", "method-not-allowed", http_status=405
        )
        response = fault_response(fault)
        response.headers["Allow"] = "GET, POST"
        return response
    paths = ", ".join(tx.path for tx in TRANSACTIONS)
    return fault_response(
        sender(f"no XDS.b endpoint here; endpoints: {paths}", "not-found", http_status=404)
    )


class XdsUnexpectedErrors(LastLine):
    """ASGI middleware, the last line under /xds: an exception that escaped every handler
    (a defect) becomes a Receiver fault, so no bare 500 page ever leaves an XDS path."""

    def applies(self, path: str) -> bool:
        return is_xds_path(path)

    def answer(self, exc: Exception, scope: Scope) -> Response:
        return fault_response(unexpected_fault(exc, scope))
