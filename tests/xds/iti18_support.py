"""Building ITI-18 AdhocQueryRequests in tests, and reading their answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import zeep
from lxml import etree

from opendmp.domain.identifiers import Ins
from opendmp.xds import stored_query as sq
from opendmp.xds.metadata_out import patient_cx
from opendmp.xds.namespaces import QUERY, RIM
from opendmp.xds.transactions import ITI18

R = f"{{{RIM}}}"
Q = f"{{{QUERY}}}"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"

Param = str | Sequence[str]


def quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def listed(values: Iterable[str]) -> str:
    return "(" + ",".join(quoted(v) for v in values) + ")"


def adhoc(
    query_id: str, params: Mapping[str, Param], *, return_type: str = "LeafClass"
) -> etree._Element:
    """An AdhocQueryRequest: a str parameter is one raw ``rim:Value`` (already in the
    stored query syntax), a sequence one ``rim:Value`` per item."""
    request = etree.Element(f"{Q}AdhocQueryRequest", nsmap={"query": QUERY, "rim": RIM})
    etree.SubElement(request, f"{Q}ResponseOption", returnType=return_type)
    query = etree.SubElement(request, f"{R}AdhocQuery", id=query_id)
    for name, value in params.items():
        values = etree.SubElement(etree.SubElement(query, f"{R}Slot", name=name), f"{R}ValueList")
        for item in [value] if isinstance(value, str) else value:
            etree.SubElement(values, f"{R}Value").text = item
    return request


def find_documents(
    ins: Ins, *, status: Iterable[str] = (APPROVED,), **more: Param
) -> dict[str, Param]:
    return {
        "$XDSDocumentEntryPatientId": quoted(patient_cx(ins)),
        "$XDSDocumentEntryStatus": listed(status),
        **{f"$XDSDocumentEntry{k}": v for k, v in more.items()},
    }


def ids_of(objects: Iterable[etree._Element], tag: str) -> list[str]:
    return [str(o.get("id")) for o in objects if o.tag == f"{R}{tag}"]


def zeep_find_documents(server: str, security: etree._Element, params: Mapping[str, Param]) -> Any:
    """FindDocuments (LeafClass) sent by a zeep client built from the served WSDL; the raw
    HTTP answer (zeep does not read ebRIM's substitution groups, RegistryObjectList's
    members, so the answer is read raw; the request is zeep's own)."""
    client = zeep.Client(wsdl=f"{server}{ITI18.path}?wsdl")
    with client.settings(raw_response=True):
        return client.service.DocumentRegistry_RegistryStoredQuery(
            ResponseOption={"returnType": "LeafClass", "returnComposedObjects": True},
            AdhocQuery={
                "id": sq.FIND_DOCUMENTS,
                "Slot": [
                    {"name": name, "ValueList": {"_value_1": [{"Value": value}]}}
                    for name, value in params.items()
                    if isinstance(value, str)
                ],
            },
            _soapheaders=[security],
        )
