# ruff: noqa: E501  (the ebRIM template below reads best one element per line)
"""ITI-41 Provide and Register, then ITI-43 Retrieve, with zeep against `make demo`
(docs/xds.md, "ITI-41" and "ITI-43").

    make demo                      # prints the `opendmp vihf …` command of the demo GP
    opendmp vihf … > v41.xml       # that command: a signed VIHF, valid 10 minutes…
    opendmp vihf … > v43.xml       # …and used once (a replayed VIHF is refused)
    python docs/examples/xds_provide_and_retrieve.py v41.xml v43.xml [http://127.0.0.1:8080]

The zeep client is built from the served WSDLs alone. Two things zeep does not do itself
are added with its public plugin interface (``zeep.Plugin.egress``): the VIHF goes in the
``wsse:Security`` header, and the ebRIM metadata (``rim:RegistryPackage``,
``rim:ExtrinsicObject``, ``rim:Association``: elements of a substitution group, which zeep
cannot build from Python values) are put in the request's ``rim:RegistryObjectList``.
The document goes inline (base64); zeep reads the MTOM answer of ITI-43 itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import zeep
from lxml import etree

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
PNR = "DocumentRepository_ProvideAndRegisterDocumentSet-b"
# OpenDMP's repositoryUniqueId by default (setting OPENDMP_XDS_REPOSITORY_UNIQUE_ID).
REPOSITORY_UNIQUE_ID = "2.25.207034460579154002476695028633456281945"


class Vihf(zeep.Plugin):  # type: ignore[misc]
    """Puts the VIHF in ``wsse:Security`` and, for ITI-41, the ebRIM objects in the request."""

    def __init__(self, assertion: etree._Element, objects: Sequence[etree._Element] = ()):
        self.assertion = assertion
        self.objects = objects

    def egress(self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any):  # type: ignore[no-untyped-def]
        header = envelope.find(f"{{{SOAP12}}}Header")
        if header is None:
            header = etree.Element(f"{{{SOAP12}}}Header")
            envelope.insert(0, header)
        security = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        security.append(self.assertion)
        listed = envelope.find(f".//{{{RIM}}}RegistryObjectList")
        if listed is not None:
            listed.extend(self.objects)
        return envelope, http_headers


def provide_and_register(
    base: str,
    assertion: etree._Element,
    objects: Sequence[etree._Element],
    documents: dict[str, bytes],
) -> Any:
    """ITI-41: ``objects`` (SubmissionSet, DocumentEntries, Associations), ``documents`` by
    ExtrinsicObject id. Returns the ``rs:RegistryResponse`` (status, RegistryErrorList)."""
    client = zeep.Client(f"{base}/xds/iti41?wsdl", plugins=[Vihf(assertion, objects)])
    return client.service[PNR](
        SubmitObjectsRequest={"RegistryObjectList": {}},
        Document=[{"id": key, "_value_1": content} for key, content in documents.items()],
    )


def retrieve(
    base: str, assertion: etree._Element, repository: str, unique_ids: Sequence[str]
) -> Any:
    """ITI-43: the ``RetrieveDocumentSetResponse`` (``DocumentResponse[].Document``: bytes)."""
    client = zeep.Client(f"{base}/xds/iti43?wsdl", plugins=[Vihf(assertion)])
    return client.service.DocumentRepository_RetrieveDocumentSet(
        DocumentRequest=[
            {"RepositoryUniqueId": repository, "DocumentUniqueId": uid} for uid in unique_ids
        ]
    )


# --- a demo submission: one PDF for the VIHF's patient ---------------------------------------

_SUBMISSION = """<rim:RegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
 <rim:RegistryPackage id="SubmissionSet01">
  <rim:Slot name="submissionTime"><rim:ValueList><rim:Value>{now}</rim:Value></rim:ValueList></rim:Slot>
  <rim:Name><rim:LocalizedString value="Envoi de démonstration"/></rim:Name>
  <rim:Classification classificationScheme="urn:uuid:aa543740-bdda-424e-8c96-df4873be8500" classifiedObject="SubmissionSet01" id="c1" nodeRepresentation="04">
   <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.2.250.1.213.1.1.4.12</rim:Value></rim:ValueList></rim:Slot>
  </rim:Classification>
  <rim:ExternalIdentifier id="e1" identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8" registryObject="SubmissionSet01" value="{set_uid}"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.uniqueId"/></rim:Name></rim:ExternalIdentifier>
  <rim:ExternalIdentifier id="e2" identificationScheme="urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832" registryObject="SubmissionSet01" value="1.2.250.1.213.1.1.9"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.sourceId"/></rim:Name></rim:ExternalIdentifier>
  <rim:ExternalIdentifier id="e3" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446" registryObject="SubmissionSet01" value="{patient}"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.patientId"/></rim:Name></rim:ExternalIdentifier>
 </rim:RegistryPackage>
 <rim:Classification classifiedObject="SubmissionSet01" classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd" id="c2"/>
 <rim:ExtrinsicObject id="Document01" mimeType="application/pdf" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
  <rim:Slot name="creationTime"><rim:ValueList><rim:Value>{now}</rim:Value></rim:ValueList></rim:Slot>
  <rim:Slot name="hash"><rim:ValueList><rim:Value>{sha1}</rim:Value></rim:ValueList></rim:Slot>
  <rim:Slot name="size"><rim:ValueList><rim:Value>{size}</rim:Value></rim:ValueList></rim:Slot>
  <rim:Slot name="languageCode"><rim:ValueList><rim:Value>fr-FR</rim:Value></rim:ValueList></rim:Slot>
  <rim:Name><rim:LocalizedString value="Compte rendu de consultation"/></rim:Name>
  <rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d" classifiedObject="Document01" id="c3" nodeRepresentation="">
   <rim:Slot name="authorPerson"><rim:ValueList><rim:Value>{author}</rim:Value></rim:ValueList></rim:Slot>
  </rim:Classification>
  {codes}
  <rim:ExternalIdentifier id="e4" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" registryObject="Document01" value="{patient}"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name></rim:ExternalIdentifier>
  <rim:ExternalIdentifier id="e5" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab" registryObject="Document01" value="{doc_uid}"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name></rim:ExternalIdentifier>
 </rim:ExtrinsicObject>
 <rim:Association associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" id="a1" sourceObject="SubmissionSet01" targetObject="Document01">
  <rim:Slot name="SubmissionSetStatus"><rim:ValueList><rim:Value>Original</rim:Value></rim:ValueList></rim:Slot>
 </rim:Association>
</rim:RegistryObjectList>"""

# DocumentEntry codes: (classification scheme, code, coding scheme).
_CODES = (
    ("41a5887f-8865-4c09-adf7-e362475b143a", "10", "1.2.250.1.213.1.1.4.1"),  # classCode
    ("f0306f51-975f-434e-a61c-c59651d33983", "11488-4", "2.16.840.1.113883.6.1"),  # typeCode
    (
        "a09d5840-386c-46f2-b5ad-9c3699a4309d",
        "urn:ihe:iti:xds:2017:mimeTypeSufficient",
        "1.3.6.1.4.1.19376.1.2.3",
    ),
    ("f4f85eac-e6cb-4883-b524-f2705394840f", "N", "2.16.840.1.113883.5.25"),  # confidentiality
    ("f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1", "SA01", "1.2.250.1.71.4.2.4"),  # facility type
    ("cccf5598-8b07-4b77-a05e-ae952c785ead", "AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),  # setting
)


def demo_submission(
    patient: str, author_idnat: str, content: bytes
) -> tuple[list[etree._Element], str]:
    """The ebRIM objects of one PDF for ``patient`` ("OID|INS"), and its uniqueId."""
    oid, _, value = patient.partition("|")
    doc_uid = f"2.25.{uuid.uuid4().int}"
    codes = "".join(
        f'<rim:Classification classificationScheme="urn:uuid:{scheme}" classifiedObject='
        f'"Document01" id="k{n}" nodeRepresentation="{code}"><rim:Slot name="codingScheme">'
        f"<rim:ValueList><rim:Value>{system}</rim:Value></rim:ValueList></rim:Slot>"
        "</rim:Classification>"
        for n, (scheme, code, system) in enumerate(_CODES)
    )
    text = _SUBMISSION.format(
        now=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
        set_uid=f"2.25.{uuid.uuid4().int}",
        doc_uid=doc_uid,
        patient=f"{value}^^^&amp;{oid}&amp;ISO",
        author=f"{author_idnat}^^^^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO",
        sha1=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        size=len(content),
        codes=codes,
    )
    return list(etree.fromstring(text.encode())), doc_uid


def _vihf_fields(assertion: etree._Element) -> tuple[str, str]:
    """(patient "OID|INS", IdNat of the user) of a VIHF."""
    saml = "urn:oasis:names:tc:SAML:2.0:assertion"
    values = {
        a.get("Name"): (a.findtext(f"{{{saml}}}AttributeValue") or "").strip()
        for a in assertion.iter(f"{{{saml}}}Attribute")
    }
    name_id = (assertion.findtext(f".//{{{saml}}}NameID") or "").strip()
    patient = values.get("urn:oasis:names:tc:xacml:2.0:resource:resource-id", "")
    if "^" not in patient:
        return patient, name_id  # already OID|INS
    ins, _, domain = patient.partition("^^^&")
    return f"{domain.split('&')[0]}|{ins}", name_id


def _read(path: str) -> etree._Element:
    with open(path, "rb") as f:
        return etree.fromstring(f.read())


def main(vihf_41: str, vihf_43: str, base: str = "http://127.0.0.1:8080") -> None:
    first, second = _read(vihf_41), _read(vihf_43)
    patient, idnat = _vihf_fields(first)
    content = b"%PDF-1.4\n% compte rendu de demonstration\n%%EOF\n"
    objects, doc_uid = demo_submission(patient, idnat, content)
    answer = provide_and_register(base, first, objects, {"Document01": content})
    print("ITI-41:", answer.status.rsplit(":", 1)[-1], doc_uid)
    found = retrieve(base, second, REPOSITORY_UNIQUE_ID, [doc_uid])
    (document,) = found.DocumentResponse
    print("ITI-43:", found.RegistryResponse.status.rsplit(":", 1)[-1], document.mimeType)
    assert document.Document == content


if __name__ == "__main__":
    main(*sys.argv[1:4])
