"""ITI-18 Registry Stored Query requests: ``query:AdhocQueryRequest`` parsed into a
:class:`StoredQuery` (IHE ITI TF-2a §3.18.4.1.2, ebRS 3.0 §6).

- ``query:ResponseOption/@returnType``: ``LeafClass`` (full metadata) or ``ObjectRef`` (ids).
- ``rim:AdhocQuery/@id``: the stored query's UUID (ITI TF-2a Table 3.18.4.1.2-1, checked against
  IPF's ``QueryType``); an id OpenDMP does not know is ``XDSUnknownStoredQuery``.
- ``rim:Slot`` parameters, each ``rim:ValueList/rim:Value`` in the stored query value syntax
  (ITI TF-2a §3.18.4.1.2.3.5): a quoted string ``'text'`` (``''`` is a quote), a list
  ``('a','b')``, or a bare number (times). A list may be split over several ``Value``
  elements (they are ORed), except for the parameters with AND semantics (event codes,
  confidentiality codes: each ``Value`` is one ORed list, the lists are ANDed).

Errors are :class:`StoredQueryError` with the ITI TF-3 Table 4.2.4.1-2 code: a parameter
malformed or not allowed for the query is ``XDSRegistryError``; a required one missing is
``XDSStoredQueryMissingParam``; several values where one is allowed ``XDSStoredQueryParamNumber``.
Pure: no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from lxml import etree

from opendmp.domain.errors import OpenDMPError
from opendmp.xds.hl7v2 import Hl7v2Error, parse_dtm
from opendmp.xds.namespaces import QUERY, RIM

# ITI TF-3 Table 4.2.4.1-2 codes used here.
REGISTRY_ERROR: Final = "XDSRegistryError"
UNKNOWN_STORED_QUERY: Final = "XDSUnknownStoredQuery"
MISSING_PARAM: Final = "XDSStoredQueryMissingParam"
PARAM_NUMBER: Final = "XDSStoredQueryParamNumber"
TOO_MANY_RESULTS: Final = "XDSTooManyResults"
PATIENT_ID_DOES_NOT_MATCH: Final = "XDSPatientIdDoesNotMatch"

LEAF_CLASS: Final = "LeafClass"
OBJECT_REF: Final = "ObjectRef"

# Stored query ids (ITI TF-2a Table 3.18.4.1.2-1).
FIND_DOCUMENTS: Final = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FIND_DOCUMENTS_BY_REFERENCE_ID: Final = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
FIND_SUBMISSION_SETS: Final = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
GET_ALL: Final = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
GET_DOCUMENTS: Final = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_ASSOCIATIONS: Final = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
GET_DOCUMENTS_AND_ASSOCIATIONS: Final = "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a"
GET_SUBMISSION_SETS: Final = "urn:uuid:51224314-5390-4169-9b91-b1980040715a"
GET_SUBMISSION_SET_AND_CONTENTS: Final = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
GET_RELATED_DOCUMENTS: Final = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"

# Parameters with AND semantics across Value elements (ITI TF-2a §3.18.4.1.2.3.5).
AND_PARAMETERS: Final = frozenset(
    {"$XDSDocumentEntryEventCodeList", "$XDSDocumentEntryConfidentialityCode"}
)


@dataclass(frozen=True, slots=True)
class QueryDefinition:
    name: str
    required: frozenset[str]  # every one of these
    one_of: tuple[frozenset[str], ...]  # exactly one of each group
    optional: frozenset[str]

    @property
    def allowed(self) -> frozenset[str]:
        return self.required | self.optional | frozenset().union(*self.one_of)


def _names(*names: str) -> frozenset[str]:
    return frozenset(names)


_DE = "$XDSDocumentEntry"
_SS = "$XDSSubmissionSet"
_COMMON = _names("$homeCommunityId", "$MetadataLevel")
_DOCUMENT_FILTERS = _names(
    f"{_DE}ClassCode",
    f"{_DE}TypeCode",
    f"{_DE}PracticeSettingCode",
    f"{_DE}CreationTimeFrom",
    f"{_DE}CreationTimeTo",
    f"{_DE}ServiceStartTimeFrom",
    f"{_DE}ServiceStartTimeTo",
    f"{_DE}ServiceStopTimeFrom",
    f"{_DE}ServiceStopTimeTo",
    f"{_DE}HealthcareFacilityTypeCode",
    f"{_DE}EventCodeList",
    f"{_DE}ConfidentialityCode",
    f"{_DE}AuthorPerson",
    f"{_DE}FormatCode",
    f"{_DE}Type",
)
_BY_DOCUMENT = (_names(f"{_DE}EntryUUID", f"{_DE}UniqueId"),)
_CONTENT_FILTERS = _names(f"{_DE}FormatCode", f"{_DE}ConfidentialityCode", f"{_DE}Type")

DEFINITIONS: Final[dict[str, QueryDefinition]] = {
    FIND_DOCUMENTS: QueryDefinition(
        "FindDocuments",
        _names(f"{_DE}PatientId", f"{_DE}Status"),
        (),
        _DOCUMENT_FILTERS | _COMMON,
    ),
    FIND_DOCUMENTS_BY_REFERENCE_ID: QueryDefinition(
        "FindDocumentsByReferenceId",
        _names(f"{_DE}PatientId", f"{_DE}Status", f"{_DE}ReferenceIdList"),
        (),
        _DOCUMENT_FILTERS | _COMMON,
    ),
    FIND_SUBMISSION_SETS: QueryDefinition(
        "FindSubmissionSets",
        _names(f"{_SS}PatientId", f"{_SS}Status"),
        (),
        _names(
            f"{_SS}SourceId",
            f"{_SS}SubmissionTimeFrom",
            f"{_SS}SubmissionTimeTo",
            f"{_SS}AuthorPerson",
            f"{_SS}ContentType",
        )
        | _COMMON,
    ),
    GET_ALL: QueryDefinition(
        "GetAll",
        _names("$patientId", f"{_DE}Status", f"{_SS}Status"),
        (),
        _names("$XDSFolderStatus", f"{_DE}FormatCode", f"{_DE}ConfidentialityCode")
        | _names(f"{_DE}Type")
        | _COMMON,
    ),
    GET_DOCUMENTS: QueryDefinition("GetDocuments", frozenset(), _BY_DOCUMENT, _COMMON),
    GET_DOCUMENTS_AND_ASSOCIATIONS: QueryDefinition(
        "GetDocumentsAndAssociations", frozenset(), _BY_DOCUMENT, _COMMON
    ),
    GET_ASSOCIATIONS: QueryDefinition("GetAssociations", _names("$uuid"), (), _COMMON),
    GET_SUBMISSION_SETS: QueryDefinition("GetSubmissionSets", _names("$uuid"), (), _COMMON),
    GET_SUBMISSION_SET_AND_CONTENTS: QueryDefinition(
        "GetSubmissionSetAndContents",
        frozenset(),
        (_names(f"{_SS}EntryUUID", f"{_SS}UniqueId"),),
        _CONTENT_FILTERS | _COMMON,
    ),
    GET_RELATED_DOCUMENTS: QueryDefinition(
        "GetRelatedDocuments",
        _names("$AssociationTypes"),
        _BY_DOCUMENT,
        _COMMON,
    ),
}


class StoredQueryError(OpenDMPError):
    """A stored query refused: ``code`` is the ITI TF-3 code, ``location`` the parameter."""

    http_status = 400

    def __init__(self, code: str, message: str, location: str | None = None) -> None:
        super().__init__(message, code=code)
        self.location = location


@dataclass(frozen=True, slots=True)
class StoredQuery:
    """A parsed request: ``params[name]`` holds one list per ``Value`` element."""

    query_id: str
    return_type: str
    params: dict[str, list[list[str]]]

    @property
    def definition(self) -> QueryDefinition:
        return DEFINITIONS[self.query_id]

    def values(self, name: str) -> list[str]:
        """All values of ``name`` (Value elements ORed), in order, without duplicates."""
        return list(dict.fromkeys(v for group in self.params.get(name, []) for v in group))

    def groups(self, name: str) -> list[list[str]]:
        return self.params.get(name, [])

    def one(self, name: str) -> str | None:
        found = self.values(name)
        if len(found) > 1:
            raise StoredQueryError(
                PARAM_NUMBER, f"{name} takes one value, not {len(found)}", location=name
            )
        return found[0] if found else None

    def time(self, name: str) -> str | None:
        """A DTM parameter, checked (``parse_dtm`` reads it again where it is used)."""
        value = self.one(name)
        if value is not None:
            try:
                parse_dtm(value)
            except Hl7v2Error as exc:
                raise StoredQueryError(REGISTRY_ERROR, f"{name}: {exc}", location=name) from None
        return value


# --- value syntax --------------------------------------------------------------------------------

_QUOTED = r"'(?:[^']|'')*'"
_ITEM = rf"\s*(?:{_QUOTED}|[0-9]+)\s*"
_LIST = re.compile(rf"\(\s*{_ITEM}(?:,{_ITEM})*\)")
_SINGLE = re.compile(_ITEM)
_ITEMS = re.compile(rf"{_QUOTED}|[0-9]+")


def _unquote(item: str) -> str:
    return item[1:-1].replace("''", "'") if item.startswith("'") else item


def parse_value(text: str, name: str) -> list[str]:
    """One ``rim:Value``: ``'x'``, ``('x','y')`` or a number -> its values."""
    stripped = text.strip()
    if _LIST.fullmatch(stripped) or _SINGLE.fullmatch(stripped):
        return [_unquote(item) for item in _ITEMS.findall(stripped)]
    raise StoredQueryError(
        REGISTRY_ERROR,
        f"{name}: a value is 'text', ('a','b') or a number (quotes doubled inside a string)",
        location=name,
    )


# --- the request ---------------------------------------------------------------------------------

_Q = f"{{{QUERY}}}"
_R = f"{{{RIM}}}"


def _return_type(request: etree._Element) -> str:
    option = request.find(f"{_Q}ResponseOption")
    found = (option.get("returnType") if option is not None else None) or OBJECT_REF
    if found not in (LEAF_CLASS, OBJECT_REF):
        raise StoredQueryError(
            REGISTRY_ERROR, f"returnType must be LeafClass or ObjectRef, not {found[:60]!r}"
        )
    return found


def _slots(query: etree._Element) -> dict[str, list[list[str]]]:
    params: dict[str, list[list[str]]] = {}
    for slot in query.iterchildren(f"{_R}Slot"):
        name = str(slot.get("name") or "").strip()
        if name in params:
            raise StoredQueryError(PARAM_NUMBER, f"{name[:80]} is given twice", location=name)
        params[name] = [parse_value(value.text or "", name) for value in slot.iter(f"{_R}Value")]
    return params


def _check_parameters(definition: QueryDefinition, params: dict[str, list[list[str]]]) -> None:
    unknown = sorted(set(params) - definition.allowed)
    if unknown:
        raise StoredQueryError(
            REGISTRY_ERROR,
            f"{definition.name} does not take {', '.join(n[:80] for n in unknown)}",
            location=unknown[0],
        )
    given = {name for name, groups in params.items() if any(groups)}
    for name in sorted(definition.required - given):
        raise StoredQueryError(MISSING_PARAM, f"{definition.name} requires {name}", location=name)
    for group in definition.one_of:
        found = sorted(group & given)
        if len(found) != 1:
            code = MISSING_PARAM if not found else PARAM_NUMBER
            raise StoredQueryError(
                code,
                f"{definition.name} takes exactly one of {', '.join(sorted(group))}",
                location=(found or sorted(group))[0],
            )


def _check_and_semantics(params: dict[str, list[list[str]]]) -> None:
    for name, groups in params.items():
        if len(groups) > 1 and name not in AND_PARAMETERS:
            # Several Value elements of one parameter are one list split up: ORed.
            params[name] = [[v for group in groups for v in group]]


def parse_stored_query(request: etree._Element) -> StoredQuery:
    """``query:AdhocQueryRequest`` -> :class:`StoredQuery`, or a :class:`StoredQueryError`."""
    if request.tag != f"{_Q}AdhocQueryRequest":
        raise StoredQueryError(REGISTRY_ERROR, "the body must be a query:AdhocQueryRequest")
    queries = list(request.iterchildren(f"{_R}AdhocQuery"))
    if len(queries) != 1:
        raise StoredQueryError(REGISTRY_ERROR, "an AdhocQueryRequest holds one rim:AdhocQuery")
    return_type = _return_type(request)
    query_id = "".join(str(queries[0].get("id") or "").split()).lower()
    definition = DEFINITIONS.get(query_id)
    if definition is None:
        raise StoredQueryError(
            UNKNOWN_STORED_QUERY,
            f"unknown or unsupported stored query {query_id[:60]!r}",
            location=query_id[:60] or None,
        )
    params = _slots(queries[0])
    _check_parameters(definition, params)
    _check_and_semantics(params)
    return StoredQuery(query_id, return_type, params)
