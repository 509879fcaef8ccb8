"""FHIR JSON and XML, chosen by ``_format`` or ``Accept`` (responses) and ``Content-Type``
(requests). Responses are built as dicts and serialised with orjson; XML goes through the
R4B models, which also validates what we send.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from fhir_core import xml_utils as fhir_xml_loader
from lxml import etree
from pydantic import ValidationError

from opendmp.domain.errors import InvalidInput, OpenDMPError

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
FHIR_VERSION = "4.0"

# How deep a request body may nest (objects and arrays in JSON, elements in XML). The
# deepest published MHD/PDSm example nests 10 levels; the R4B models validate recursively
# and exhaust Python's stack near 120 nested extensions (docs/security.md, "No input
# produces a server error").
MAX_DEPTH = 32

_JSON_NAMES = {"json", FHIR_JSON, "application/json", "application/json+fhir"}
_XML_NAMES = {"xml", FHIR_XML, "application/xml", "text/xml", "application/xml+fhir"}


class NotAcceptable(OpenDMPError):
    code = "not-acceptable"
    http_status = 406


class UnsupportedMediaType(OpenDMPError):
    code = "unsupported-media-type"
    http_status = 415


class PayloadTooLarge(OpenDMPError):
    code = "payload-too-large"
    http_status = 413


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def response_format(request: Request) -> str:
    """``json`` or ``xml``: ``_format`` wins over ``Accept``; JSON by default."""
    fmt = request.query_params.get("_format")
    if fmt:
        name = _media(fmt)
        if name in _JSON_NAMES:
            return "json"
        if name in _XML_NAMES:
            return "xml"
        raise NotAcceptable(f"_format {fmt!r} is not supported: use json or xml")
    accept = request.headers.get("accept", "")
    if not accept:
        return "json"
    for part in accept.split(","):
        name = _media(part)
        if name in _JSON_NAMES or name in {"*/*", "application/*"}:
            return "json"
        if name in _XML_NAMES or name == "text/*":
            return "xml"
    raise NotAcceptable(f"cannot produce {accept!r}: use {FHIR_JSON} or {FHIR_XML}")


# Characters XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF). JSON can, and
# an error message may quote the caller's input: in XML each becomes U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(value: Any) -> Any:
    """``value`` with every string made representable in XML (JSON answers keep them)."""
    if isinstance(value, str):
        return _NOT_XML.sub("\ufffd", value)
    if isinstance(value, dict):
        return {key: xml_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [xml_safe(item) for item in value]
    return value


def to_xml(resource: dict[str, Any]) -> bytes:
    model = get_fhir_model_class(resource["resourceType"])
    xml: str | bytes = model.model_validate(xml_safe(resource)).model_dump_xml()
    return xml.encode() if isinstance(xml, str) else xml


def fhir_response(
    request: Request,
    resource: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    fmt: str | None = None,
) -> Response:
    chosen = fmt or response_format(request)
    if chosen == "xml":
        return Response(
            to_xml(resource),
            status_code=status_code,
            media_type=f"{FHIR_XML}; charset=utf-8",
            headers=headers,
        )
    return Response(
        orjson.dumps(resource),
        status_code=status_code,
        media_type=f"{FHIR_JSON}; charset=utf-8",
        headers=headers,
    )


async def read_body(request: Request, *, limit: int) -> bytes:
    """Read the request body, refusing it with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def too_deep() -> InvalidInput:
    return InvalidInput(f"the body nests deeper than {MAX_DEPTH} levels", code="invalid-resource")


def _json_children(node: Any) -> Iterable[Any]:
    if isinstance(node, dict):
        return node.values()
    return node if isinstance(node, list) else ()


def check_depth(root: Any, children: Callable[[Any], Iterable[Any]] = _json_children) -> None:
    """Refuse a tree nested deeper than ``MAX_DEPTH``, walked level by level (no recursion):
    JSON by default, or any tree given its ``children`` (an lxml element is iterable)."""
    level: list[Any] = [root]
    for _ in range(MAX_DEPTH):
        level = [child for node in level for child in children(node)]
        if not level:
            return
    raise too_deep()


_ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})
FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"


# The R4B XML loader resolves each element's local name among its own module's globals
# (``globals().get(name, Node)``): a name that is one of them would be called as a class.
_LOADER_NAMES = frozenset(name for name in vars(fhir_xml_loader) if name != "Node")


def _check_elements(root: etree._Element) -> None:
    """Refuse a body the R4B XML loader cannot walk (it fails with ``KeyError``,
    ``AttributeError`` or ``TypeError`` otherwise, which would be a 500).

    FHIR XML puts every element in the FHIR namespace, as the default namespace, except
    the narrative's ``div`` (XHTML, kept as it is); comments may appear anywhere,
    processing instructions nowhere inside the resource; no FHIR element is named after
    one of the loader's internals. Walked without recursion.
    """
    pending = [root]
    while pending:
        element = pending.pop()
        if isinstance(element, etree._Comment):
            continue
        if element is not root and element.nsmap.get(None) == XHTML_NS:
            continue
        if (
            not isinstance(element.tag, str)
            or etree.QName(element).namespace != FHIR_NS
            or element.nsmap.get(None) != FHIR_NS
        ):
            raise InvalidInput(
                f"FHIR XML elements must be in the default namespace {FHIR_NS}",
                code="invalid-resource",
            )
        if etree.QName(element).localname in _LOADER_NAMES:
            raise InvalidInput(
                f"unknown element {etree.QName(element).localname!r}", code="invalid-resource"
            )
        pending.extend(element)


def _resource_model(name: str) -> type[Resource]:
    """The R4B model of the concrete resource ``name`` (the XML root element's name).

    The lookup raises ``KeyError`` or ``ValueError`` for a name it does not know, and also
    answers for data types (``Coding``) and abstract classes, which are no request body.
    """
    try:
        model = get_fhir_model_class(name)
    except (KeyError, ValueError):
        model = None
    if model is None or not issubclass(model, Resource) or name in _ABSTRACT_RESOURCES:
        raise InvalidInput(f"unknown resource {name!r}", code="invalid-resource")
    return model


def parse_resource(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Parse a FHIR resource from JSON or XML into a plain dict."""
    media = _media(content_type or FHIR_JSON)
    if not body:
        raise InvalidInput("the request body is empty", code="invalid-resource")
    if media in _JSON_NAMES:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"malformed JSON: {exc}", code="invalid-resource") from None
        if not isinstance(data, dict) or "resourceType" not in data:
            raise InvalidInput("the body is not a FHIR resource", code="invalid-resource")
        check_depth(data)
        return data
    if media in _XML_NAMES:
        from opendmp.cda.xml import parse_xml

        root = parse_xml(body)
        check_depth(root, iter)
        _check_elements(root)
        name = etree.QName(root).localname
        model = _resource_model(name)
        try:
            parsed = model.model_validate_xml(body)
        except KeyError as exc:
            # fhir_core's XML reader looks each child element up among the model's fields.
            raise InvalidInput(
                f"invalid {name}: unknown element {exc.args[0]!r}", code="invalid-resource"
            ) from None
        except (AttributeError, TypeError) as exc:
            # It also looks element names up among its module's globals: <copy/> names a
            # function there (found by schemathesis). What it cannot read is refused.
            raise InvalidInput(
                f"invalid {name}: the XML is not a FHIR resource ({type(exc).__name__})",
                code="invalid-resource",
            ) from None
        except (ValidationError, ValueError) as exc:
            raise InvalidInput(
                f"invalid {name}: {str(exc).splitlines()[0]}", code="invalid-resource"
            ) from None
        result: dict[str, Any] = orjson.loads(parsed.model_dump_json(exclude_none=True))
        return result
    raise UnsupportedMediaType(
        f"Content-Type {content_type!r} is not supported: use {FHIR_JSON} or {FHIR_XML}"
    )
